"""Limits checked before a reader or decoder allocates: a damaged or hostile file can declare gigabytes in a few bytes.

- BoundedFile: no read asks for more bytes than the file has left (pydicom reads a value with one read of its
  declared length, and read(n) allocates n bytes first).
- MAX_FRAME_PIXELS: a frame's Rows x Columns.
- codestream_size: what a JPEG, JPEG-LS or JPEG 2000 codestream itself declares (its decoder allocates that, whatever
  the DICOM header says).
- inflation_problem: how large a deflated data set inflates (pydicom inflates it whole, at listing time).
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any, Protocol

from pydicom.uid import DeflatedExplicitVRLittleEndian

# Detectors are at most ~4300 x 4300 pixels; 10000 x 10000 frames must still open (test_io_image).
MAX_FRAME_PIXELS = 16384 * 16384
MAX_INFLATED = 1 << 29  # bytes a deflated data set may inflate to: one 16-bit frame of MAX_FRAME_PIXELS
DEFLATED = DeflatedExplicitVRLittleEndian.encode()  # as it appears in the file meta
# JPEG start-of-frame markers (ISO 10918-1 B.1.1.3) and JPEG-LS SOF55 (ISO 14495-1); each is followed by length,
# precision, height, width.
SOF_MARKERS = {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xF7}
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xDA)}  # no length field
J2K_START = b"\xff\x4f\xff\x51"  # SOC then SIZ


class Seekable(Protocol):
    """What the checks below read a file through: an open binary file, or a BoundedFile."""

    def read(self, size: int | None = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...


class BoundedFile:
    """A file opened for reading whose read(n) asks for no more bytes than are left in it.

    pydicom opens the file again by name with this class (the dataset's fileobj_type) to read deferred values. Not
    an io.BufferedReader subclass on purpose: pydicom would then reopen deferred values with plain open().
    """

    def __init__(self, name: str | os.PathLike[str], mode: str = "rb") -> None:
        self.name = os.fspath(name)  # a str: pydicom joins it with text in its messages
        self._file = open(self.name, "rb")
        self._end = os.fstat(self._file.fileno()).st_size
        self.seek, self.tell = self._file.seek, self._file.tell  # bound once: pydicom calls them per element

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size > 65536:  # small reads allocate little; a header holds many of them
            size = min(size, max(self._end - self._file.tell(), 0))
        return self._file.read(size)

    def __getattr__(self, name: str) -> Any:  # readable, seekable, close, closed, ...
        return getattr(self._file, name)

    def __enter__(self) -> BoundedFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()


def codestream_size(data: bytes) -> tuple[str, int, int] | None:
    """(kind, rows, columns) that a JPEG / JPEG-LS / JPEG 2000 frame declares in its header; None if not found."""
    at = data.find(J2K_START, 0, 4096)  # a bare codestream, or inside a JP2 file's boxes
    if at >= 0 and len(data) >= at + 24:
        x, y, x0, y0 = struct.unpack(">IIII", data[at + 8:at + 24])
        return "JPEG 2000", max(y - y0, 0), max(x - x0, 0)
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 9 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker in SOF_MARKERS:
            rows, columns = struct.unpack(">HH", data[at + 5:at + 9])
            return "JPEG-LS" if marker == 0xF7 else "JPEG", rows, columns
        if marker == 0xFF:  # fill byte
            at += 1
        elif marker in STANDALONE_MARKERS:
            at += 2
        else:
            at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return None


def jpeg_header_problem(data: bytes) -> str | None:
    """What is wrong, in words, with a JPEG (ISO 10918) codestream's marker segments up to its scan; None when they
    are whole: SOI, then segments that each start with 0xFF and have a length that fits, a start of frame, a start of
    scan. gdcm aborts the whole process on some codestreams that fail this (a C++ exception nothing catches)."""
    if not data.startswith(b"\xff\xd8"):
        return "it does not start with a JPEG start-of-image marker"
    at, frame_seen = 2, False
    while True:
        if at + 2 > len(data):
            return "it ends before its start of scan"
        if data[at] != 0xFF:
            return f"byte {at} is 0x{data[at]:02X} where a marker should be"
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xD9:
            return "it ends (end-of-image marker) before its start of scan"
        if marker == 0x00:  # a stuffed 0xFF of entropy-coded data, never a marker
            return f"bytes {at}-{at + 1} are 0xFF00 where a marker should be"
        if marker in STANDALONE_MARKERS:
            at += 2
            continue
        length = int.from_bytes(data[at + 2:at + 4], "big") if at + 4 <= len(data) else 0
        if length < 2 or at + 2 + length > len(data):
            return f"marker segment 0xFF{marker:02X} at byte {at} has a length ({length}) that does not fit"
        segment = data[at + 4:at + 2 + length]
        problem = _sof_problem(segment) if marker in SOF_MARKERS else None
        if problem or (marker == 0xEE and (problem := _app14_problem(segment))):
            return problem
        frame_seen = frame_seen or marker in SOF_MARKERS
        if marker == 0xDA:
            return None if frame_seen else "its scan comes before any start of frame"
        at += 2 + length


def _sof_problem(segment: bytes) -> str | None:
    """A start-of-frame segment's values out of ISO 10918-1 B.2.2's ranges (a precision of 33 bits crashed gdcm)."""
    if len(segment) < 6:
        return "its start of frame is cut short"
    precision, components = segment[0], segment[5]
    if not 2 <= precision <= 16:
        return f"its start of frame declares {precision}-bit samples (JPEG allows 2 to 16)"
    if not 1 <= components <= 4 or len(segment) < 6 + 3 * components:
        return f"its start of frame declares {components} components in {len(segment) + 2} bytes"
    for index in range(components):
        sampling = segment[7 + 3 * index]
        if not (1 <= sampling >> 4 <= 4 and 1 <= sampling & 15 <= 4) or segment[8 + 3 * index] > 3:
            return f"component {index + 1} of its start of frame has invalid sampling factors or table"
    return None


def _app14_problem(segment: bytes) -> str | None:
    """An Adobe APP14 segment whose colour transform is not 0, 1 or 2 (gdcm aborted on one)."""
    if segment.startswith(b"Adobe") and len(segment) >= 12 and segment[11] > 2:
        return f"its Adobe segment names colour transform {segment[11]} (0, 1 or 2 exist)"
    return None


def is_deflated(f: Seekable) -> bool:
    """Whether the file meta names Deflated Explicit VR Little Endian; leaves `f` at its start."""
    head = f.read(1024)
    f.seek(0)
    return DEFLATED in head


def inflation_problem(f: Seekable) -> str | None:
    """None when a deflated file's data set inflates to at most MAX_INFLATED bytes, else what is wrong.

    Inflates in chunks (nothing kept) from after the file meta; leaves `f` at its start.
    """
    head = f.read(144)
    # The file meta's group length (0002,0000) UL right after the preamble and DICM says where the data set starts.
    if head[132:140] != b"\x02\x00\x00\x00UL\x04\x00":
        f.seek(0)
        return None
    f.seek(144 + struct.unpack("<I", head[140:144])[0])
    inflater, total = zlib.decompressobj(-zlib.MAX_WBITS), 0
    try:
        while chunk := f.read(1 << 20):
            while chunk and not inflater.eof:
                total += len(inflater.decompress(chunk, 1 << 24))
                if total > MAX_INFLATED:
                    return f"the deflated data set inflates to more than {MAX_INFLATED} bytes"
                chunk = inflater.unconsumed_tail
    except zlib.error as exc:
        return f"the deflated data set is damaged (zlib.error: {exc})"
    finally:
        f.seek(0)
    return None
