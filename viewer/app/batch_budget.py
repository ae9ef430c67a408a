"""Chunks of a batch by a pixel budget: a chunk is at most `batch` images AND at most PIXEL_BUDGET pixels, so that two
chunks in flight of 10,000² films hold two films, not 32 (tens of GB); one image alone always forms a chunk.

The sizes come from each file's header (a DICOM's Rows x Columns, a PNG's or JPEG's size: one frame, the one the
batch decodes), read as the chunks are formed: lazily, while the chunks before are decoding and on the model, so
only the first chunk's peeks come before any work starts. A header that cannot be read counts as an ordinary image
and fails later, in decode, as it would have.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .batch_spec import DEFAULT_BATCH, ImageTask

PIXEL_BUDGET = 64 * 1024 * 1024  # 64 Mpx a chunk: 64 1024² films (the batch bounds those), four 4096², one 10,000²
DEFAULT_PIXELS = PIXEL_BUDGET // DEFAULT_BATCH  # an image whose header cannot be read: a 16th of a chunk


def image_pixels(path: Path) -> int:
    """Pixels of one frame of the image at `path`, from its header only; DEFAULT_PIXELS when that is unreadable."""
    from viewer.io.raster import is_raster

    path = Path(path)
    try:  # only a regular file's header is read: opening a FIFO would wait for a writer for ever (decode refuses it)
        found = os.stat(path)
        if not stat.S_ISREG(found.st_mode) or found.st_size == 0:
            return DEFAULT_PIXELS
    except (OSError, ValueError):
        return DEFAULT_PIXELS
    peeks = [_raster_pixels, _dicom_pixels] if is_raster(path) else [_dicom_pixels, _raster_pixels]
    for peek in [*peeks, _headerless_pixels]:
        try:
            with warnings.catch_warnings():  # a damaged header's warnings are decode's to say, once
                warnings.simplefilter("ignore")
                pixels = peek(path)
        except Exception:  # noqa: BLE001 — not this format, or damaged: decode says which, in its own line
            continue
        if pixels > 0:
            return pixels
    return DEFAULT_PIXELS


def _dicom_pixels(path: Path, force: bool = False) -> int:
    from pydicom import dcmread

    header = dcmread(path, stop_before_pixels=True, specific_tags=["Rows", "Columns"], force=force)
    return int(header.Rows) * int(header.Columns)


def _headerless_pixels(path: Path) -> int:
    """A DICOM data set without preamble and file meta (which open_image reads too)."""
    return _dicom_pixels(path, force=True)


def _raster_pixels(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as image:  # reads the header; the pixels are decoded only when asked for
        width, height = image.size
        return width * height


def chunks(tasks: Iterable[ImageTask], batch: int, budget: int | None = None,
           pixels: Callable[[Path], int] = image_pixels) -> Iterator[list[ImageTask]]:
    """`tasks` in input order, cut into chunks of at most `batch` images and `budget` (PIXEL_BUDGET) pixels, an
    image over the budget alone; each header is read when its chunk is formed, not before."""
    batch, budget = max(1, batch), budget or PIXEL_BUDGET
    chunk: list[ImageTask] = []
    held = 0
    for task in tasks:
        size = pixels(task.path)
        if chunk and (len(chunk) >= batch or held + size > budget):
            yield chunk
            chunk, held = [], 0
        chunk.append(task)
        held += size
    if chunk:
        yield chunk
