"""Exceptions, warnings and stray output from libraries, described in one line for a user."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# What a decoder may raise on a damaged file besides Exception: pyo3's PanicException (pylibjpeg-rle, written in
# Rust) derives from BaseException. Ctrl-C and exit are never caught.
NOT_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit)


def printable(text: str) -> str:
    """`text` on one line, control characters (a damaged value quoted in a library's message) shown as '?'."""
    return "".join(c if c.isprintable() else "?" for c in " ".join(str(text).split()))


def describe(exc: BaseException) -> str:
    """The exception's type (the message alone is often unclear) and its message, on one line."""
    message = printable(str(exc))
    name = type(exc).__name__
    if name == "error":  # struct.error, zlib.error, ...: the bare name says nothing
        name = f"{type(exc).__module__}.error"
    return f"{name}: {message}" if message else name


def warning_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    """Library warnings about the file (user warnings only), each once and on one line."""
    return list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught if issubclass(w.category, UserWarning)))


@contextmanager
def native_stderr() -> Iterator[list[str]]:
    """Capture what C/Rust decoders write straight to file descriptor 2 (openjpeg messages, Rust panic reports).

    They would otherwise appear above the CLI's one-line error. The yielded list receives the captured lines on exit.
    Decoding runs on one thread per process (the viewer decodes in helper processes), so moving fd 2 is safe.
    """
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr (a windowed app): nothing to capture
        yield lines
        return
    with tempfile.TemporaryFile() as capture:  # a file, not a pipe: a chatty decoder cannot fill it and block
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read(4096).decode("utf-8", "replace")
            lines += [" ".join(line.split()) for line in text.splitlines() if line.strip()][:5]
