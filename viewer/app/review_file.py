"""The session file on disk: atomic saves, the one-reader lock, and finding images that moved.

`NAME.radcam-session` is JSON (schema in viewer.app.review, documented in docs/SESSION.md). Every save writes a
temporary file beside it, fsyncs it and renames it over the old one, so a crash or a full disk leaves the previous
save whole. `NAME.radcam-session.lock` beside it says who has it open; a second reader is refused with a message
naming the first. Each entry's path is stored absolute and relative to the session's folder ("relpath"), so a
folder moved together with its session file still opens without asking.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from viewer.errors import SessionError, SessionLockedError

from .review import SUFFIX, Entry, ReviewSession, SchemaError, now

LOCK_SUFFIX = ".lock"
_HELD: set[Path] = set()  # locks this process holds: a lock naming our own pid but not in here is stale


class SessionFile:
    """One open session file and the lock that makes it ours."""

    def __init__(self, path: Path, reader: str) -> None:
        self.path = path
        self.reader = reader
        self.lock = lock_path(path)

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
        opened._take_lock()
        if not session.reader:
            session.reader = reader
        try:
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
        opened._take_lock()
        try:
            session = read_session(target)
            if not session.reader:
                session.reader = reader
            fill_sizes(session.entries)
        except BaseException:
            opened.release()
            raise
        return opened, session

    def save(self, session: ReviewSession) -> None:
        """Write `session` completely or not at all (the previous save stays whole); sets `updated`."""
        session.updated = now()
        try:
            text = json.dumps(to_json(session, self.path.parent), ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as error:  # a value JSON cannot hold: a bug, but the old file must survive
            raise SessionError(f"cannot save {self.path}: {error}") from error
        write_atomic(self.path, text.encode("utf-8"))

    def release(self) -> None:
        """Remove our lock (only if it is still ours: a lock taken over after we died is not ours to remove)."""
        _HELD.discard(self.lock)
        holder = _read_lock(self.lock)
        if holder is not None and (holder.get("pid") != os.getpid() or holder.get("host") != _host()):
            return
        try:
            self.lock.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only folder: the lock stays and reads as stale once this process has ended

    def _take_lock(self) -> None:
        if self.lock in _HELD:
            raise SessionLockedError(f"{self.path} is already open in this RadCAM")
        for _ in range(3):  # a stale lock is removed and the take retried; racing another taker may repeat that
            try:
                descriptor = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_lock(self.lock)
                if not _stale(self.lock, holder):
                    raise SessionLockedError(_locked_message(self.path, holder)) from None
                _remove_stale(self.lock, holder)
                continue
            except OSError as error:
                raise SessionError(f"cannot lock {self.path}: {error.strerror or error}") from error
            info = {"reader": self.reader, "host": _host(), "pid": os.getpid(), "since": now()}
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(info, handle)
            _HELD.add(self.lock)
            return
        raise SessionLockedError(_locked_message(self.path, _read_lock(self.lock)))


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)


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
    except json.JSONDecodeError as error:
        if raw.lstrip()[:1] in (b"{", b"["):
            raise SessionError(f"{target} is damaged (JSON breaks at line {error.lineno}, column {error.colno}: "
                               f"{error.msg})") from None
        raise SessionError(f"{target} is not a RadCAM session (not JSON)") from None
    try:
        session = ReviewSession.from_dict(data)
    except SchemaError as error:
        raise SessionError(f"{target}: {error}") from None
    _follow_relpaths(session, data["entries"], target.absolute().parent)
    return session


def to_json(session: ReviewSession, folder: Path) -> dict[str, Any]:
    """The session's JSON with each entry's path also relative to `folder` (the session file's)."""
    data = session.to_dict()
    for entry in data["entries"]:
        try:
            entry["relpath"] = Path(os.path.relpath(entry["path"], folder)).as_posix()
        except ValueError:  # another drive (Windows): no relative path
            entry["relpath"] = None
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """`data` into `path` all or nothing: temporary file beside it, fsync, rename; then fsync the folder so
    the rename itself survives a power cut."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise SessionError(f"cannot save {path}: {error.strerror or error}") from error
    except BaseException:
        _remove(temporary)
        raise
    _sync_folder(path.parent)


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
    missing = missing_entries(session, Path.cwd())
    if not missing or not folder.is_dir():
        return 0
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
    relinked = [entry for entry in missing if entry.path in moved]
    for entry in relinked:
        entry.path = str(moved[entry.path].absolute())
    return len(relinked)


def fill_sizes(entries: Iterable[Entry]) -> None:
    """Record each file's size while it is where the session says (re-linking by name checks it)."""
    sizes: dict[str, int | None] = {}
    for entry in entries:
        if entry.size is None:
            if entry.path not in sizes:
                sizes[entry.path] = _size(Path(entry.path))
            entry.size = sizes[entry.path]


def file_sha256(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def is_session_file(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def _follow_relpaths(session: ReviewSession, raw: list[Any], folder: Path) -> None:
    """An entry whose absolute path is gone but whose relative path exists from the session's folder: the
    folder was moved with its session file; use the relative path."""
    checked: dict[str, str] = {}
    for entry, data in zip(session.entries, raw, strict=True):
        relpath = data.get("relpath") if isinstance(data, dict) else None
        if not relpath:
            continue
        if entry.path in checked:
            entry.path = checked[entry.path]
            continue
        original = entry.path
        if not Path(original).is_file():
            candidate = folder / relpath
            if candidate.is_file():
                entry.path = os.path.normpath(candidate)
        checked[original] = entry.path


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


def _host() -> str:
    return socket.gethostname()


def _read_lock(lock: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stale(lock: Path, holder: dict[str, Any] | None) -> bool:
    """A lock left by a process that is gone: same host and its pid not running (after kill -9 or a crash)."""
    if holder is None:  # unreadable: being written this instant, or left half-written by a crash long ago
        try:
            return lock.stat().st_mtime < _clock() - 5
        except OSError:
            return True  # gone meanwhile: try again
    if holder.get("host") != _host():
        return False  # another machine: we cannot tell whether it is alive, so it holds the file
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return True
    if pid == os.getpid():
        return lock not in _HELD  # our pid but not our lock: a previous process that had the same pid
    return not _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) is not running
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _remove_stale(lock: Path, holder: dict[str, Any] | None) -> None:
    """Move the stale lock aside and remove it, unless another taker replaced it with a live one meanwhile."""
    aside = lock.with_name(f"{lock.name}.{secrets.token_hex(4)}.stale")
    try:
        os.replace(lock, aside)
    except OSError:
        return
    if _read_lock(aside) != holder:  # someone else's fresh lock: put it back
        try:
            os.link(aside, lock)
        except OSError:
            pass
    aside.unlink(missing_ok=True)


def _locked_message(path: Path, holder: dict[str, Any] | None) -> str:
    if holder is None:
        return f"{path} is being opened by another RadCAM this moment; try again"
    reader = holder.get("reader") or "another reader"
    return (f"{path} is open by {reader} on {holder.get('host', '?')} since {holder.get('since', '?')} "
            f"(pid {holder.get('pid', '?')}); ask them to close it, or open a copy")


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # the folder refused the write; it refuses the clean-up too


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on this platform or file system; the file itself is synced
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _clock() -> float:
    import time

    return time.time()
