"""The PNGs of one explained image encoded together: one thread a file filters and deflates its rows (numpy and
ISA-L/zlib release the GIL, so every core is busy), while the calling thread makes the bands and hands each file
its next one in step. In step, the original's, heatmap's and overlay's bands are read by every file they go into
at about the same time, so a small BandCache makes each once (the side-by-side composite made them all again).

Every writer thread has ended before encode_together returns or raises: a failed set's temporaries are removed
after its last write, never before it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from viewer.render.strips import BandCache, Rows

from .images import save_image

QUEUE_BANDS = 3  # bands waiting for a writer: a few MB each; the maker blocks on a full queue (back-pressure)
_END, _ABORT = object(), object()


class _Aborted(Exception):
    """Raised inside a writer whose set is given up (another file failed, or the maker did)."""


class _Writer(threading.Thread):
    """Writes one PNG from the bands put on its queue, then _END (the file is whole) or _ABORT (it is removed)."""

    def __init__(self, path: Path, rows: Rows, level: int, index: int):
        super().__init__(name=f"radcam-png-{index}", daemon=True)
        self.path, self.rows, self.level = path, rows, level
        self.queue: queue.Queue[object] = queue.Queue(QUEUE_BANDS)
        self.error: BaseException | None = None
        self.ended = False  # it has taken _END or _ABORT off its queue
        self.told = False  # _END or _ABORT has been put on its queue

    def run(self) -> None:
        try:
            save_image(self.path, self.rows, png_compression=self.level, bands=self._bands())
        except _Aborted:
            pass
        except BaseException as exc:  # noqa: BLE001 — handed to the maker, which raises the first one
            self.error = exc
        while not self.ended:  # failed early: the maker's puts must never block on a writer that stopped reading
            item = self.queue.get()
            self.ended = item is _END or item is _ABORT

    def _bands(self) -> Iterator[np.ndarray]:
        while True:
            item = self.queue.get()
            if item is _END or item is _ABORT:
                self.ended = True
                if item is _ABORT:
                    raise _Aborted
                return
            assert isinstance(item, np.ndarray)
            yield item


def encode_together(encodes: Sequence[tuple[Path, Rows]], level: int, cache: BandCache | None = None) -> None:
    """Each (path, rows) as a PNG, on a thread each. A file's turn ends once it has read one band through `cache`
    (the panels' rows: text bars above them are passed over), so every file reads the same panel band in the same
    turn; without a cache, one band a turn."""
    writers = [_Writer(path, rows, level, index) for index, (path, rows) in enumerate(encodes)]
    started: list[_Writer] = []  # a thread that cannot start (threads run out) gives up those already waiting
    aborted = True
    try:
        for writer in writers:
            writer.start()
            started.append(writer)
        aborted = not _make_bands(writers, (lambda: cache.reads) if cache is not None else None)
    finally:
        for writer in started:
            if not writer.told:
                writer.queue.put(_ABORT if aborted else _END)
        for writer in started:
            writer.join()
    failed = next((writer.error for writer in writers if writer.error is not None), None)
    if failed is not None:
        raise failed


def _make_bands(writers: list[_Writer], reads: Callable[[], int] | None) -> bool:
    """Every file's bands handed to its writer in turns; False once a writer has failed (the set is given up)."""
    pending = {writer: iter(writer.rows.bands()) for writer in writers}
    while pending:
        for writer, bands in list(pending.items()):
            if writer.error is not None:
                return False
            before = reads() if reads is not None else None
            for band in bands:
                writer.queue.put(band)
                if reads is None or reads() != before:
                    break
            else:
                del pending[writer]
                writer.queue.put(_END)
                writer.told = True
    return True
