"""Exceptions, warnings and stray output from libraries, described in one line for a user."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from viewer.stderr_capture import capture_fd2

# What a decoder may raise on a damaged file besides Exception: pyo3's PanicException (pylibjpeg-rle, written in
# Rust) derives from BaseException. Ctrl-C and exit are never caught.
NOT_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit)


def one_line(text: str) -> str:
    """`text` on one line, control characters (a damaged value quoted in a library's message) shown as '?'."""
    return "".join(c if c.isprintable() else "?" for c in " ".join(str(text).split()))


def describe(exc: BaseException) -> str:
    """The exception's type (the message alone is often unclear) and its message, on one line."""
    message = one_line(str(exc))
    name = type(exc).__name__
    if name == "error":  # struct.error, zlib.error, ...: the bare name says nothing
        name = f"{type(exc).__module__}.error"
    return f"{name}: {message}" if message else name


def warning_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    """Library warnings about the file (user warnings only), each once, on one line and printable (a warning may quote
    a damaged value with control bytes in it)."""
    return list(dict.fromkeys(one_line(str(w.message)) for w in caught if issubclass(w.category, UserWarning)))


@contextmanager
def native_stderr() -> Iterator[list[str]]:
    """Capture what C/Rust decoders write straight to file descriptor 2 (openjpeg messages, Rust panic reports).

    They would otherwise appear above the CLI's one-line error. The yielded list receives the captured lines on exit.
    Decoders on several threads at once (the pre-scan's) share one capture (viewer.stderr_capture), so a
    failure's lines may include another decoder's messages.
    """
    lines: list[str] = []
    captured = None
    try:
        with capture_fd2() as captured:
            yield lines
    finally:
        if captured is not None:
            lines += [one_line(line) for line in captured.text.splitlines() if line.strip()][:5]
