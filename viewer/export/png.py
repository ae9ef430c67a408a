"""PNG written band by band: a 10,000² side-by-side composite (900 MB of RGB) reaches the disk without ever being
whole in memory, and at about four times Pillow's speed.

Rows are filtered with PNG's Sub filter and deflated with zlib's run-length strategy: on radiographs that is as
small as Pillow's level 6 and far faster than libpng's adaptive filters (a 10,000² grey film: 1 s, 51 MB, against
Pillow's 7.7 s at level 1). The pixels are the same whatever the level: the level only trades time for size.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np

from viewer.render.strips import Rows

SIGNATURE = b"\x89PNG\r\n\x1a\n"
IDAT_BYTES = 1 << 20  # compressed bytes gathered per IDAT chunk
PNG_COMPRESSION = 1  # zlib level for PNG exports: speed first (pixels are the same at any level)


def _chunk(handle: BinaryIO, tag: bytes, data: bytes) -> None:
    handle.write(struct.pack(">I", len(data)) + tag)
    handle.write(data)
    handle.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)) & 0xFFFFFFFF))


def _sub_filtered(band: np.ndarray, channels: int) -> np.ndarray:
    """Each row as filter byte 1 (Sub) and each byte minus the one a pixel to its left (mod 256)."""
    flat = band.reshape(band.shape[0], -1)
    out = np.empty((flat.shape[0], flat.shape[1] + 1), np.uint8)
    out[:, 0] = 1
    out[:, 1:channels + 1] = flat[:, :channels]
    np.subtract(flat[:, channels:], flat[:, :-channels], out=out[:, channels + 1:])
    return out


def write_png(handle: BinaryIO, rows: Rows, level: int = PNG_COMPRESSION, bands: Iterable[np.ndarray] | None = None
              ) -> None:
    """`rows` (uint8 grey or RGB) as an 8-bit PNG into the open binary `handle`; zlib `level` 0 (stored) to 9."""
    if rows.channels not in (1, 3):
        raise ValueError(f"a PNG band has 1 or 3 channels, not {rows.channels}")
    handle.write(SIGNATURE)
    colour_type = 0 if rows.channels == 1 else 2
    _chunk(handle, b"IHDR", struct.pack(">IIBBBBB", rows.width, rows.height, 8, colour_type, 0, 0, 0))
    deflate = zlib.compressobj(int(level), zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    pending: list[bytes] = []
    size = 0
    for band in bands if bands is not None else rows.bands():
        packed = deflate.compress(_sub_filtered(np.ascontiguousarray(band, np.uint8), rows.channels).data)
        if packed:
            pending.append(packed)
            size += len(packed)
        if size >= IDAT_BYTES:
            _chunk(handle, b"IDAT", b"".join(pending))
            pending, size = [], 0
    pending.append(deflate.flush())
    _chunk(handle, b"IDAT", b"".join(pending))
    _chunk(handle, b"IEND", b"")
