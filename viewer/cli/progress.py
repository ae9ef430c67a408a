"""The progress of a command over several images on stderr: on a terminal a tqdm bar with images/s and the time
left; otherwise one plain line an image, "radcam: [i/N] label", which scripts and the tests read.

Labels are the caller's (anonymised when the command anonymises); they are made printable here."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from viewer.export.names import printable

LABEL_CHARS = 40  # the end of a long label: the file name, not the folder it is in
# the label last, as {desc} (tqdm puts ", " before a postfix)
BAR_FORMAT = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}] {desc}"


class _Stderr:
    """sys.stderr as it is at each write: while a decoder thread captures fd 2, the commands' sys.stderr is moved to
    a duplicate (viewer.stderr_capture.python_stderr_apart) and the progress must follow it, not keep the old one."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def fileno(self) -> int:
        return sys.stderr.fileno()


STDERR = _Stderr()


class Progress:
    """Where a command over `total` images says how far it is: `step(label)` once an image is done. Nothing for a
    single image (its own output says it)."""

    def __init__(self, total: int, stream: TextIO | _Stderr | None = None):
        self.total = total
        self.done = 0
        self.stream = stream or STDERR
        self.tty = _isatty(self.stream)
        self._bar = None
        if self.tty and total >= 2:
            from tqdm import tqdm

            # unit " images": the rate reads "3.20 images/s" (rate_noinv: never inverted to "s/image")
            sized = _columns(self.stream) > 0  # a terminal that says no width (0) would get an empty bar
            self._bar = tqdm(total=total, file=self.stream, unit=" images", bar_format=BAR_FORMAT,
                             dynamic_ncols=sized, ncols=None if sized else 100, smoothing=0.1, leave=True)

    def step(self, label: str) -> None:
        self.done += 1
        if self.total < 2:
            return
        if self._bar is not None:
            self._bar.set_description_str(printable(label)[-LABEL_CHARS:], refresh=False)
            self._bar.update(1)
            if self.done >= self.total:
                self.close()
        else:
            print(f"radcam: [{self.done}/{self.total}] {printable(label)}", file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar's line (done, or the command stopped early); a second close does nothing."""
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


@contextmanager
def clear_of_bars(stream: TextIO | _Stderr | None = None) -> Iterator[None]:
    """Write lines (a per-image error) while a bar is shown: the bar is cleared, the lines written, the bar redrawn
    below them, instead of the line landing in the middle of the bar."""
    stream = stream or STDERR
    if not _isatty(stream) or "tqdm" not in sys.modules:  # no bar can be on it
        yield
        return
    from tqdm import tqdm

    with tqdm.external_write_mode(file=stream):
        yield


def _columns(stream: TextIO | _Stderr) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def _isatty(stream: TextIO | _Stderr) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False
