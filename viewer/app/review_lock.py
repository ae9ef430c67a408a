"""The lock that keeps two readers (or two RadCAMs) from writing the same session file.

`NAME.radcam-session.lock` beside the session, created with O_CREAT | O_EXCL (only one creator wins), holds
{reader, host, pid, since, start}. A lock whose process is gone (same host, pid not running, or running but started
after the lock was taken: the pid was reused) is stale, after kill -9 or a power cut, and is taken over silently.
A lock from another host cannot be checked, so it holds until that reader closes the session.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import time
from pathlib import Path
from typing import Any

from viewer.errors import SessionError, SessionLockedError

from .review import now

LOCK_SUFFIX = ".lock"
_HELD: set[Path] = set()  # locks this process holds: a lock naming our own pid but not in here is stale


def lock_path(session_path: Path) -> Path:
    return session_path.with_name(session_path.name + LOCK_SUFFIX)


class SessionLock:
    """The lock of one session file, taken for one reader."""

    def __init__(self, session_path: Path, reader: str) -> None:
        self.session_path = session_path
        self.reader = reader
        self.path = lock_path(session_path)

    def take(self) -> None:
        """Ours, or SessionLockedError naming who has the session open (SessionError if the folder refuses)."""
        if self.path in _HELD:
            raise SessionLockedError(f"{self.session_path} is already open in this RadCAM")
        for _ in range(3):  # a stale lock is moved away and the take retried; racing another taker may repeat that
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = read_lock(self.path)
                if not _stale(self.path, holder):
                    raise SessionLockedError(_locked_message(self.session_path, holder)) from None
                _remove_stale(self.path, holder)
                continue
            except OSError as error:
                raise SessionError(f"cannot lock {self.session_path}: {error.strerror or error} (a session opens "
                                   "where it can be saved: copy it to a folder you can write to)") from error
            info = {"reader": self.reader, "host": _host(), "pid": os.getpid(), "since": now(),
                    "start": _process_start(os.getpid())}
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    json.dump(info, handle)
            except OSError as error:  # a full disk: no half-written lock left to make others wait
                self.path.unlink(missing_ok=True)
                raise SessionError(f"cannot lock {self.session_path}: {error.strerror or error}") from error
            _HELD.add(self.path)
            return
        raise SessionLockedError(_locked_message(self.session_path, read_lock(self.path)))

    def release(self) -> None:
        """Remove the lock if it is still ours (one taken over after this process was thought dead is not)."""
        if self.path not in _HELD:
            return
        _HELD.discard(self.path)
        holder = read_lock(self.path)
        if holder is not None and (holder.get("pid") != os.getpid() or holder.get("host") != _host()):
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a folder that turned read-only: the lock stays and reads as stale once this process has ended


def locked_by(session_path: Path) -> str | None:
    """Why taking the session's lock would be refused now (its holder), or None: for a refusal before long work."""
    path = lock_path(session_path.absolute())
    if not path.exists():
        return None
    holder = read_lock(path)
    return None if _stale(path, holder) else _locked_message(session_path, holder)


def read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _host() -> str:
    return socket.gethostname()


def _stale(path: Path, holder: dict[str, Any] | None) -> bool:
    """Left by a process that is gone: same host and its pid not running (or now another process's)."""
    if holder is None:  # unreadable: being written this instant, or left half-written by a crash long ago
        try:
            return path.stat().st_mtime < time.time() - 5
        except OSError:
            return True  # gone meanwhile: try again
    if holder.get("host") != _host():
        return False  # another machine: whether it is alive cannot be told from here, so it holds
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return True
    if pid == os.getpid():
        return path not in _HELD  # our pid, not our lock: an earlier process that had the same pid
    if not _running(pid):
        return True
    start = holder.get("start")
    return start is not None and _process_start(pid) not in (None, start)


def _running(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would send Ctrl+C there
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return bool(ctypes.GetLastError() == 5)  # access denied: it exists, another user's
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) is not running
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _process_start(pid: int) -> str | None:
    """When a process started (Linux: boot id and start tick), so a reused pid is told from the locker; None
    where it cannot be read."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        tick = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
    return f"{boot}:{tick}"


def _remove_stale(path: Path, holder: dict[str, Any] | None) -> None:
    """Move the stale lock aside and delete it, unless another taker replaced it with a live one meanwhile."""
    aside = path.with_name(f"{path.name}.{secrets.token_hex(4)}.stale")
    try:
        os.replace(path, aside)
    except OSError:
        return
    if read_lock(aside) != holder:  # someone else's fresh lock: put it back
        try:
            os.link(aside, path)
        except OSError:
            pass
    try:
        aside.unlink(missing_ok=True)
    except OSError:
        pass


def _locked_message(session_path: Path, holder: dict[str, Any] | None) -> str:
    if holder is None:
        return f"{session_path} is being opened by another RadCAM this moment; try again"
    reader = holder.get("reader") or "another reader"
    return (f"{session_path} is open by {reader} on {holder.get('host', '?')} since {holder.get('since', '?')} "
            f"(pid {holder.get('pid', '?')}); ask them to close it, or open a copy")
