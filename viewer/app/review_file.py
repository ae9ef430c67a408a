"""The session file on disk: atomic saves, the one-reader lock, and finding images that moved.

`NAME.radcam-session` is JSON (schema in viewer.app.review, documented in docs/SESSION.md). Every save writes a
temporary file beside it, fsyncs it and renames it over the old one, so a crash or a full disk leaves the previous
save whole. `NAME.radcam-session.lock` beside it says who has it open; a second reader is refused with a message
naming the first. Each entry's path is stored absolute and relative to the session's folder ("relpath"), so a
folder moved together with its session file still opens without asking.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from viewer.errors import ExportError, SessionError
from viewer.export.atomic import atomic_write

from .prediction_cache import content_sha256
from .review import SUFFIX, Entry, ReviewSession, SchemaError, now
from .review_lock import LOCK_SUFFIX, SessionLock, lock_path

__all__ = ["SessionFile", "file_sha256", "lock_path", "missing_entries", "read_session", "relink", "to_json",
           "write_atomic"]


class SessionFile:
    """One open session file and the lock that makes it ours."""

    def __init__(self, path: Path, reader: str) -> None:
        self.path = path
        self.reader = reader
        self._lock = SessionLock(path, reader)
        self._texts: dict[str, tuple[Entry, str]] = {}  # entry id → (the entry, its JSON when last saved)
        self._relpaths: dict[str, str | None] = {}

    @classmethod
    def create(cls, path: str | os.PathLike[str], session: ReviewSession, reader: str,
               overwrite: bool = False) -> SessionFile:
        """A new session file holding `session`, locked for `reader`. An existing file is refused unless
        `overwrite` (a Save As the user confirmed); one that another reader holds is refused always."""
        target = Path(path).absolute()
        if target.exists() and not overwrite:
            raise SessionError(f"{target} exists; choose another name or replace it")
        if not target.parent.is_dir():
            raise SessionError(f"cannot write {target}: folder {target.parent} does not exist")
        opened = cls(target, reader)
        opened._lock.take()
        if not session.reader:
            session.reader = reader
        try:
            _make_absolute(session)
            fill_sizes(session.entries)
            opened.save(session)
        except BaseException:
            opened.release()
            raise
        return opened

    @classmethod
    def open(cls, path: str | os.PathLike[str], reader: str) -> tuple[SessionFile, ReviewSession]:
        """Lock and read a session file for `reader`: SessionLockedError if someone else has it open,
        SessionError if it is missing, damaged, or from a newer RadCAM."""
        target = Path(path).absolute()
        if not target.is_file():
            raise SessionError(f"cannot open {target}: no such session file")
        opened = cls(target, reader)
        opened._lock.take()
        try:
            session = read_session(target)
            if not session.reader:
                session.reader = reader
            fill_sizes(session.entries)
        except BaseException:
            opened.release()
            raise
        return opened, session

    def save(self, session: ReviewSession, changed: Iterable[str] | None = None) -> None:
        """Write `session` completely or not at all (the previous save stays whole); sets `updated`.

        `changed`: the ids of the only entries changed since the last save (ReviewState knows them); the others
        reuse their JSON from then, so a verdict in a 10,000-image session costs one entry's serialisation.
        None: every entry is serialised again (anything may have changed: re-linking, an edit from outside)."""
        session.updated = now()
        fresh = None if changed is None else set(changed)
        try:
            texts = [self._entry_text(entry, fresh) for entry in session.entries]
            head_data = replace(session, entries=[]).to_dict()
            if session.model is not None:
                head_data["model"]["relpath"] = relative_path(session.model.path, self.path.parent)
            head = json.dumps(head_data, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as error:  # a value JSON cannot hold: a bug, but the old file must survive
            self._texts.clear()
            raise SessionError(f"cannot save {self.path}: {error}") from error
        if len(self._texts) > 2 * len(texts) + 100:  # entries removed: forget their texts
            self._texts = {entry.id: self._texts[entry.id] for entry in session.entries}
        at = head.rindex('"entries":[]') + len('"entries":[')
        body = head[:at] + ",".join(texts) + head[at:]
        write_atomic(self.path, body.encode("utf-8"))

    def release(self) -> None:
        """Remove our lock (only if it is still ours: a lock taken over after we died is not ours to remove)."""
        self._lock.release()

    def _entry_text(self, entry: Entry, fresh: set[str] | None) -> str:
        held = self._texts.get(entry.id)
        if held is not None and held[0] is entry and fresh is not None and entry.id not in fresh:
            return held[1]
        data = entry.to_dict()
        data["relpath"] = self._relpath(entry.path)
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        self._texts[entry.id] = (entry, text)
        return text

    def _relpath(self, path: str) -> str | None:
        if path not in self._relpaths:
            self._relpaths[path] = relative_path(path, self.path.parent)
        return self._relpaths[path]


def read_session(path: str | os.PathLike[str]) -> ReviewSession:
    """The session in `path`, read only (no lock): for reports and the CLI. One-line SessionError otherwise."""
    target = Path(path)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        raise SessionError(f"cannot open {target}: no such session file") from None
    except IsADirectoryError:
        raise SessionError(f"cannot open {target}: it is a folder, not a session file") from None
    except OSError as error:
        raise SessionError(f"cannot open {target}: {error.strerror or error}") from error
    if not raw.strip():
        raise SessionError(f"{target} is empty, not a RadCAM session")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise SessionError(f"{target} is not a RadCAM session (not text)") from None
    except RecursionError:
        raise SessionError(f"{target} is damaged (its JSON is nested too deeply)") from None
    except json.JSONDecodeError as error:
        if raw.lstrip()[:1] in (b"{", b"["):
            raise SessionError(f"{target} is damaged (JSON breaks at line {error.lineno}, column {error.colno}: "
                               f"{error.msg})") from None
        raise SessionError(f"{target} is not a RadCAM session (not JSON)") from None
    try:
        session = ReviewSession.from_dict(data)
    except SchemaError as error:
        raise SessionError(f"{target}: {error}") from None
    _follow_relpaths(session, data, target.absolute().parent)
    return session


def to_json(session: ReviewSession, folder: Path) -> dict[str, Any]:
    """The session's JSON with each entry's path also relative to `folder` (the session file's)."""
    data = session.to_dict()
    for entry in data["entries"]:
        entry["relpath"] = relative_path(entry["path"], folder)
    if data["model"] is not None:
        data["model"]["relpath"] = relative_path(data["model"]["path"], folder)
    return data


def relative_path(path: str, folder: Path) -> str | None:
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive (Windows): no relative path
        return None


def write_atomic(path: Path, data: bytes) -> None:
    """`data` into `path` all or nothing, durably (viewer.export.atomic: temporary file beside it, fsync, rename,
    fsync of the folder so the rename itself survives a power cut)."""
    try:
        atomic_write(path, lambda temporary: temporary.write_bytes(data), overwrite=True, durable=True)
    except ExportError as error:
        raise SessionError(str(error).replace("cannot write", "cannot save", 1)) from error


def missing_entries(session: ReviewSession, base: Path) -> list[Entry]:
    """Entries whose file is not where the session says (a relative path counts from `base`)."""
    found: dict[str, bool] = {}
    missing = []
    for entry in session.entries:
        if entry.path not in found:
            found[entry.path] = (base / entry.path).is_file()
        if not found[entry.path]:
            missing.append(entry)
    return missing


def relink(session: ReviewSession, folder: Path) -> int:
    """Point the entries whose files are missing at the same images under `folder`: by SOP Instance UID, else
    by content (SHA-256), else by file name and size. Returns how many entries were re-linked."""
    return apply_moved(session, find_moved(session, folder))


def apply_moved(session: ReviewSession, moved: dict[str, Path]) -> int:
    """Re-point the entries at what `find_moved` found (old path → new path); how many entries moved."""
    relinked = [entry for entry in session.entries if entry.path in moved]
    for entry in relinked:
        entry.path = str(moved[entry.path].absolute())
    return len(relinked)


def find_moved(session: ReviewSession, folder: Path) -> dict[str, Path]:
    """Where the missing entries' files are under `folder` (old path → new path; every frame of a file moves
    with it). Only reads the session, so the viewer runs it off the UI thread (seconds on a large folder)."""
    missing = missing_entries(session, Path.cwd())
    if not missing or not folder.is_dir():
        return {}
    files = list(_files(folder))
    moved: dict[str, Path] = {}  # old path → new path: every frame of a file moves with it
    by_uid = {entry.sop_instance_uid: entry for entry in missing if entry.sop_instance_uid}
    if by_uid:
        for path in files:
            uid = _sop_uid(path)
            if uid in by_uid:
                moved.setdefault(by_uid[uid].path, path)
    left = [entry for entry in missing if entry.path not in moved]
    by_hash = {entry.sha256: entry for entry in left if entry.sha256}
    if by_hash:
        sizes = {entry.size for entry in by_hash.values()}
        taken = set(moved.values())
        for path in files:
            if path in taken or (None not in sizes and _size(path) not in sizes):
                continue
            digest = file_sha256(path)
            if digest in by_hash:
                moved.setdefault(by_hash[digest].path, path)
    left = [entry for entry in missing if entry.path not in moved]
    if left:
        by_name: dict[str, list[Path]] = {}
        for path in files:
            by_name.setdefault(path.name, []).append(path)
        for entry in left:
            same = [path for path in by_name.get(Path(entry.path).name, [])
                    if entry.size is None or _size(path) == entry.size]
            if len(same) == 1:  # two files of that name: which one is a guess, so neither
                moved.setdefault(entry.path, same[0])
    return moved


def fill_sizes(entries: Iterable[Entry]) -> None:
    """Record each file's size while it is where the session says (re-linking by name checks it)."""
    sizes: dict[str, int | None] = {}
    for entry in entries:
        if entry.size is None:
            if entry.path not in sizes:
                sizes[entry.path] = _size(Path(entry.path))
            entry.size = sizes[entry.path]


def file_sha256(path: Path) -> str | None:
    """The digest the pre-scan records (of the file's bytes); None for a file that cannot be read."""
    try:
        return content_sha256(path)
    except OSError:
        return None


def is_session_file(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def _make_absolute(session: ReviewSession) -> None:
    """Paths given relative to the working folder made absolute: the file is opened from anywhere."""
    for entry in session.entries:
        if not os.path.isabs(entry.path):
            entry.path = os.path.abspath(entry.path)
    if session.model is not None and session.model.path and not os.path.isabs(session.model.path):
        session.model = replace(session.model, path=os.path.abspath(session.model.path))


def _follow_relpaths(session: ReviewSession, data: dict[str, Any], folder: Path) -> None:
    """Paths as found: a path written relative counts from the session's folder; an absolute path that is gone
    while its "relpath" exists from the session's folder means the folder moved with its session file."""
    checked: dict[str, str] = {}
    for entry, raw in zip(session.entries, data["entries"], strict=True):
        if entry.path not in checked:
            checked[entry.path] = _found(entry.path, raw.get("relpath") if isinstance(raw, dict) else None, folder)
        entry.path = checked[entry.path]
    model = data.get("model")
    if session.model is not None and isinstance(model, dict):
        session.model = replace(session.model, path=_found(session.model.path, model.get("relpath"), folder))


def _found(path: str, relpath: Any, folder: Path) -> str:
    if not os.path.isabs(path):
        return os.path.normpath(folder / path)
    if isinstance(relpath, str) and relpath and not os.path.exists(path):
        candidate = os.path.normpath(folder / relpath)
        if os.path.exists(candidate):
            return candidate
    return path


def _files(folder: Path) -> Iterator[Path]:
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and not name.endswith((SUFFIX, LOCK_SUFFIX)):
                yield Path(root) / name


def _sop_uid(path: Path) -> str | None:
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        dataset = dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        return str(dataset.get("SOPInstanceUID", "") or "") or None
    except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, EOFError, KeyError):
        return None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
