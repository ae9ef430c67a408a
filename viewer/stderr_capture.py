"""Native code's stderr: file descriptor 2 sent to a temporary file for a while (Python's sys.stderr cannot catch
what C/C++/Rust libraries write there: decoders' messages, TensorFlow's start-up logs)."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MAX_KEPT = 1 << 20  # bytes of captured output kept: enough for any message, bounded for a runaway library


@dataclass
class Captured:
    text: str = ""  # what was written to fd 2 inside the block; filled when the block ends, even by an exception


class _Shared:
    """fd 2's one sink while any thread captures: the first block in moves fd 2, the last one out puts it back (each
    thread saving and restoring fd 2 itself left it on another thread's sink: stderr lost for good)."""

    def __init__(self) -> None:
        self.saved = os.dup(2)
        self.sink = tempfile.TemporaryFile()
        self.users = 0
        os.dup2(self.sink.fileno(), 2)

    def read(self, start: int) -> str:
        """What was written since `start` (every capturing thread's: their messages cannot be told apart)."""
        end = os.lseek(self.sink.fileno(), 0, os.SEEK_CUR)  # fd 2 shares this offset: read without moving it
        size = min(end - start, MAX_KEPT)
        if hasattr(os, "pread"):
            data = os.pread(self.sink.fileno(), size, start)
        else:
            os.lseek(self.sink.fileno(), start, os.SEEK_SET)
            data = os.read(self.sink.fileno(), size)
            os.lseek(self.sink.fileno(), end, os.SEEK_SET)
        return data.decode("utf-8", "replace")

    def close(self) -> None:
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.sink.close()


_lock = threading.Lock()
_shared: _Shared | None = None


@contextmanager
def capture_fd2() -> Iterator[Captured]:
    """Send fd 2 to a temporary file (not a pipe: a chatty library cannot fill it and block) for the block.

    Without a usable fd 2 (a windowed app) nothing is captured and the block runs as is. Moving fd 2 affects the
    whole process: blocks on several threads at once (the pre-scan's decoders) share one sink, and each gets what
    any of them wrote meanwhile.
    """
    global _shared
    captured = Captured()
    with _lock:
        try:
            sys.stderr.flush()
            if _shared is None:
                _shared = _Shared()
        except (OSError, ValueError, AttributeError):
            shared = None
        else:
            shared = _shared
            shared.users += 1
            start = os.lseek(shared.sink.fileno(), 0, os.SEEK_CUR)
    if shared is None:
        yield captured
        return
    try:
        yield captured
    finally:
        with _lock:
            captured.text = shared.read(start)
            shared.users -= 1
            if shared.users == 0:
                shared.close()
                _shared = None


@contextmanager
def python_stderr_apart() -> Iterator[None]:
    """Python's sys.stderr on a duplicate of fd 2 for the block, so what the program prints while a decoder thread
    has fd 2 captured (progress, a file that failed) reaches the terminal instead of that thread's sink."""
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            yield  # a windowed app, or a test's captured stream: nothing to keep apart
            return
        sys.stderr.flush()
        apart = open(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
    except (OSError, ValueError, AttributeError):
        yield
        return
    original, sys.stderr = sys.stderr, apart
    try:
        yield
    finally:
        sys.stderr = original
        apart.flush()  # left open: a logging handler made meanwhile may hold it (it writes to the same terminal)
