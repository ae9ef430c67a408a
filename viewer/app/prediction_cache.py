"""Pre-scan scores kept on disk per (model, image content + frame): reopening a scanned worklist calls no model.

One SQLite file per model (the standard library's sqlite3: several viewers may write at once) in the user cache
folder: `RADCAM_CACHE_DIR` when set, else `$XDG_CACHE_HOME/radcam`, else `~/.cache/radcam` (macOS
`~/Library/Caches/radcam`, Windows `%LOCALAPPDATA%\\radcam\\Cache`). A model is its file's SHA-256 plus the spec
fields that change a score (labels, preprocessing, input size, output kind...): the same file with another sidecar
is another model, and so is the same model under another RadCAM version. An image is the SHA-256 of its file's
bytes and the frame. A cache that cannot be opened or written is a warning, never a failed scan: the scores are then
kept in memory only. A damaged cache file is replaced (its scores can be made again) and `replaced` says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CACHE_VERSION = 1  # raise when the default rendering or the probability rule changes: older scores go unread
SCORE_FIELDS = ("labels", "preprocess", "color_mode", "input_size", "output_kind", "interpolation", "output")
Scores = dict[str, float]


def cache_dir() -> Path:
    """Where RadCAM keeps what it can compute again."""
    override = os.environ.get("RADCAM_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "radcam"
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "radcam" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "radcam"


def content_sha256(path: str | Path) -> str:
    """SHA-256 of the file's bytes (OSError when it cannot be read)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def model_key(model_sha256: str, spec: Mapping[str, Any], output_index: int = 0) -> str:
    """The cache's name for a model: its file and what of its spec decides the scores, and this RadCAM's version
    (a fix to decoding or windowing changes the pixels the model sees: scores of another version are not reused)."""
    from viewer import __version__

    fields = {name: spec.get(name) for name in SCORE_FIELDS}
    text = json.dumps([CACHE_VERSION, __version__, model_sha256, fields, output_index], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class PredictionCache:
    """Scores of one model. `get` may be called from any thread (the decoders look up before decoding)."""

    def __init__(self, key: str, folder: Path | None = None) -> None:
        self.key = key
        self.path = (folder or cache_dir() / "predictions") / f"{key}.sqlite"
        self.warning: str | None = None  # why scores are not kept on disk, when they are not
        self.replaced: str | None = None  # the damaged file found and replaced (scores are kept: not a warning)
        self._memory: dict[tuple[str, int], Scores] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError):  # locked, read-only, full: not the file's fault
                    raise
                for stale in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                    stale.unlink(missing_ok=True)  # scores can be made again: a damaged file would never cache
                self._db = self._connect()
                self.replaced = f"prediction cache {self.path} was damaged ({exc}) and has been replaced"
        except (OSError, sqlite3.Error) as exc:
            self.warning = f"prediction cache {self.path} not used: {exc}"

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            db.execute("CREATE TABLE IF NOT EXISTS scores (image TEXT NOT NULL, frame INTEGER NOT NULL, "
                       "scores TEXT NOT NULL, PRIMARY KEY (image, frame))")
        except BaseException:
            db.close()
            raise
        return db

    @classmethod
    def for_model(cls, model_sha256: str, spec: Mapping[str, Any], output_index: int = 0,
                  folder: Path | None = None) -> PredictionCache:
        return cls(model_key(model_sha256, spec, output_index), folder)

    def get(self, image_sha256: str, frame: int) -> Scores | None:
        key = (image_sha256, frame)
        with self._lock:
            found = self._memory.get(key)
            if found is not None or self._db is None:
                return found
            try:  # another viewer may have scored it since: the file, not only this process's memory
                row = self._db.execute("SELECT scores FROM scores WHERE image = ? AND frame = ?", key).fetchone()
            except sqlite3.Error as exc:
                self._fail(exc)
                return None
        if row is None:
            return None
        try:
            scores = {str(label): float(value) for label, value in json.loads(row[0]).items()}
        except (ValueError, TypeError, AttributeError):
            return None  # a damaged row is scored again and replaced
        with self._lock:
            self._memory[key] = scores
        return scores

    def put_many(self, rows: Iterable[tuple[str, int, Scores]]) -> None:
        """Keep scores; one transaction for the lot (one per pre-scan batch)."""
        rows = [(image, int(frame), dict(scores)) for image, frame, scores in rows]
        with self._lock:
            for image, frame, scores in rows:
                self._memory[(image, frame)] = scores
            if self._db is None or not rows:
                return
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?)",
                                         [(image, frame, json.dumps(scores)) for image, frame, scores in rows])
            except sqlite3.Error as exc:
                self._fail(exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _fail(self, exc: sqlite3.Error) -> None:
        """Go on in memory: a full disk or a damaged cache file must not stop a pre-scan."""
        self.warning = f"prediction cache {self.path} not used: {exc}"
        if self._db is not None:
            self._db.close()
            self._db = None
