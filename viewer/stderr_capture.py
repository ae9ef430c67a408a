"""Native code's stderr: file descriptor 2 sent to a temporary file for a while (Python's sys.stderr cannot catch
what C/C++/Rust libraries write there: decoders' messages, TensorFlow's start-up logs)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MAX_KEPT = 1 << 20  # bytes of captured output kept: enough for any message, bounded for a runaway library


@dataclass
class Captured:
    text: str = ""  # what was written to fd 2 inside the block; filled when the block ends, even by an exception


@contextmanager
def capture_fd2() -> Iterator[Captured]:
    """Send fd 2 to a temporary file (not a pipe: a chatty library cannot fill it and block) for the block.

    Without a usable fd 2 (a windowed app) nothing is captured and the block runs as is. Moving fd 2 affects the
    whole process: use it where one thread does the work (decoding, importing TensorFlow).
    """
    captured = Captured()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield captured
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read(MAX_KEPT).decode("utf-8", "replace")
