"""PNG written band by band: a 10,000² side-by-side composite (900 MB of RGB) reaches the disk without ever being
whole in memory, and far faster than Pillow.

Rows are filtered with PNG's Sub filter and deflated by ISA-L (the `isal` package: a standard zlib stream, on a
filtered radiograph or overlay about four times zlib level 1's speed and as small or smaller), or by zlib when isal is
not installed. The pixels are the same whatever the level or the library: those only trade time for size.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import Any, BinaryIO

import numpy as np

from viewer.render.strips import Rows

try:  # ISA-L's deflate: python-isal, a manylinux/macOS/Windows wheel; zlib below when absent
    from isal import isal_zlib
except ImportError:  # pragma: no cover - isal is a dependency; a trimmed install still writes PNGs
    isal_zlib = None  # type: ignore[assignment]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
IDAT_BYTES = 1 << 20  # compressed bytes gathered per IDAT chunk
PNG_COMPRESSION = 1  # deflate level for PNG exports: speed first (pixels are the same at any level)
ISAL_LEVELS = range(1, 4)  # ISA-L's levels 1-3; 0 (stored) and 4-9 (smaller, slower) are zlib's
crc32 = isal_zlib.crc32 if isal_zlib is not None else zlib.crc32


def deflater(level: int) -> Any:
    """A compressobj for a zlib stream at `level` 0 (stored) to 9: ISA-L for 1-3 when installed (zlib's run-length
    strategy without it, as fast as zlib goes on filtered rows), zlib's own for 0 and 4-9."""
    level = int(level)
    if not 0 <= level <= 9:
        raise ValueError(f"a PNG compression level is 0 to 9, not {level}")
    if level in ISAL_LEVELS:
        if isal_zlib is not None:
            return isal_zlib.compressobj(level)
        return zlib.compressobj(level, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return zlib.compressobj(level)


def _chunk(handle: BinaryIO, tag: bytes, data: bytes) -> None:
    handle.write(struct.pack(">I", len(data)) + tag)
    handle.write(data)
    handle.write(struct.pack(">I", crc32(data, crc32(tag)) & 0xFFFFFFFF))


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
    """`rows` (uint8 grey or RGB) as an 8-bit PNG into the open binary `handle`; `level` 0 (stored) to 9 (deflater).
    `bands`: the rows' bands in order when the caller makes them (rows.bands() when None)."""
    if rows.channels not in (1, 3):
        raise ValueError(f"a PNG band has 1 or 3 channels, not {rows.channels}")
    deflate = deflater(level)
    handle.write(SIGNATURE)
    colour_type = 0 if rows.channels == 1 else 2
    _chunk(handle, b"IHDR", struct.pack(">IIBBBBB", rows.width, rows.height, 8, colour_type, 0, 0, 0))
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
