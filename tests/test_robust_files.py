"""No bad file crashes or hangs the study loader or `radcam-cli view` (issue: Reliability).

A corpus of damaged, odd and hostile files, generated here in tmp_path (and cut from the real fixtures when they
exist). Each case documents its outcome: it opens and renders to uint8 (frame 0 at least), or it is refused with a
one-line RadcamError naming the file and the problem; the CLI then exits 0, or 2 with exactly one line on stderr
(C decoders writing to fd 2 included, hence capfd). Every case runs under a deadline, bombs under a memory bound.
"""

from __future__ import annotations

import io
import re
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, assert_one_line_error, needs_fixtures, write_dicom
from PIL import Image
from pydicom import dcmread
from robustness import check_error, check_render, jpeg_lossless, open_everything, peak_allocation, view, within

from viewer.errors import RadcamError
from viewer.io import load, open_image

DEADLINE = 30.0  # seconds; every case takes well under one
BOMB_PEAK = 64 << 20  # a refused bomb may allocate no more than this (the header says gigabytes)
RAMP = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 7) % 4096  # 12-bit, 8192 bytes of pixel data
NOT_READABLE = r"not a DICOM file or an image format Pillow can read"


@dataclass
class Case:
    path: Path
    error: str | None = None  # regex every error message (library and CLI) must contain
    opens: bool = False  # frame 0 opens and renders (the CLI exits 0); further frames may still fail with `error`
    check: Callable[[np.ndarray], None] | None = None  # what frame 0 must show
    bomb: bool = False  # refused before a large allocation: peak memory stays under BOMB_PEAK


CASES: dict[str, Callable[[Path], Case]] = {}
FIXTURE_CASES: set[str] = set()


def case(name: str, fixture: bool = False):
    def register(build):
        CASES[name] = build
        if fixture:
            FIXTURE_CASES.add(name)
        return build
    return register


# ---------------------------------------------------------------------------------------------------------------
# Building blocks


def base_dicom(folder: Path) -> bytes:
    """A valid explicit VR little endian file: 64 x 64, 16 bits allocated, 12 stored, a window."""
    return write_dicom(folder / "base.dcm", RAMP, bits_stored=12, WindowCenter=2048, WindowWidth=4096).read_bytes()


def base_render(values: np.ndarray = RAMP) -> np.ndarray:
    """`values` through the base file's window 2048/4096 (LINEAR, PS3.3 C.11.2.1.2.1)."""
    low, high = 2047.5 - 4095 / 2, 2047.5 + 4095 / 2
    y = ((values - 2047.5) / 4095 + 0.5) * 255
    return np.rint(np.where(values <= low, 0, np.where(values > high, 255, y))).astype(np.uint8)


def shows_base(shown: np.ndarray) -> None:
    assert np.array_equal(shown, base_render())


def shows_base_as_signed(shown: np.ndarray) -> None:
    """Pixel Representation 1 with 12 bits stored: values of 2048 and up are negative (two's complement)."""
    assert np.array_equal(shown, base_render(np.where(RAMP >= 2048, RAMP.astype(int) - 4096, RAMP)))


def element(data: bytes, tag: int, vr: bytes) -> int:
    """Offset of an explicit VR little endian element header."""
    return data.index(struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr)


def flipped(data: bytes, at: int, bit: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 1 << bit
    return bytes(out)


def patched(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value):]


def written(folder: Path, name: str, data: bytes) -> Path:
    (folder / name).write_bytes(data)
    return folder / name


PIXEL = 0x7FE00010
ROWS, COLUMNS, BITS_ALLOCATED, SAMPLES = 0x00280010, 0x00280011, 0x00280100, 0x00280002
PIXEL_REPRESENTATION, PHOTOMETRIC, PATIENT_NAME, WINDOW_CENTER = 0x00280103, 0x00280004, 0x00100010, 0x00281050
MONO = dict(SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2")


def native(folder: Path, name: str, rows: int, columns: int, bits: int, data: bytes, signed: bool = False,
           keyword: str = "PixelData", **attributes) -> Path:
    """A DICOM file with raw pixel bytes as given (no consistency check), for what set_pixel_data refuses."""
    stored = {} if keyword != "PixelData" else dict(BitsStored=bits, HighBit=bits - 1,
                                                    PixelRepresentation=int(signed))
    return write_dicom(folder / name, None, Rows=rows, Columns=columns, BitsAllocated=bits, **MONO, **stored,
                       **{keyword: data}, **attributes)


def rle(folder: Path) -> bytes:
    """Two 64 x 48 frames, RLE Lossless: an encapsulated file with a Basic Offset Table."""
    frames = np.random.default_rng(0).integers(0, 4096, (2, 64, 48), dtype=np.uint16)
    ds = dcmread(write_dicom(folder / "plain.dcm", frames, bits_stored=12))
    ds.compress("1.2.840.10008.1.2.5")
    ds.save_as(folder / "rle.dcm")
    return (folder / "rle.dcm").read_bytes()


def offset_table(data: bytes) -> tuple[int, int]:
    """(offset of the Basic Offset Table item, offset of the first fragment item) in encapsulated pixel data."""
    table = element(data, PIXEL, b"OB") + 12
    length = struct.unpack("<I", data[table + 4:table + 8])[0]
    return table, table + 8 + length


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, depth: int, colour: int, rows: bytes) -> bytes:
    """A PNG written by hand: Pillow cannot write 16-bit RGBA or lie about its size."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


GREY = np.random.default_rng(3).integers(0, 256, (32, 32), dtype=np.uint8)


def grey_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(GREY).save(buffer, "PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# Not images at all


@case("zero bytes .dcm")
def _(tmp):
    return Case(written(tmp, "empty.dcm", b""), r"empty file \(0 bytes\)")


@case("zero bytes .png")
def _(tmp):
    return Case(written(tmp, "empty.png", b""), r"empty file \(0 bytes\)")


@case("text .dcm")
def _(tmp):
    return Case(written(tmp, "notes.dcm", b"Patient history: see chart.\n" * 50), NOT_READABLE)


@case("text .png")
def _(tmp):
    return Case(written(tmp, "notes.png", b"<html>not an image</html>\n" * 50), NOT_READABLE)


@case("random bytes .dcm")
def _(tmp):
    return Case(written(tmp, "noise.dcm", np.random.default_rng(1).bytes(5000)), NOT_READABLE)


@case("random bytes .png")
def _(tmp):
    return Case(written(tmp, "noise.png", np.random.default_rng(2).bytes(5000)), NOT_READABLE)


@case("random bytes after a DICOM preamble")
def _(tmp):
    data = bytes(128) + b"DICM" + np.random.default_rng(4).bytes(3000)
    return Case(written(tmp, "noise_dicm.dcm", data), r"DICOM header truncated or damaged|no pixel data|"
                                                       r"no DICOM data elements|cannot read")


# ---------------------------------------------------------------------------------------------------------------
# A generated DICOM truncated at 10 offsets: preamble, file meta, data set, element headers and values, pixel data

TRUNCATIONS = {
    "in the preamble": (lambda d: 64, r"DICOM dataset: no pixel data"),  # zeros: read as a headerless file
    "after the preamble": (lambda d: 128, r"DICOM dataset: no pixel data"),
    "after DICM": (lambda d: 132, r"no DICOM data elements after the file header"),
    "inside the first file meta element": (lambda d: 140, r"no DICOM data elements after the file header"),
    "at the start of the data set": (lambda d: element(d, 0x00080016, b"UI"),
                                     r"no DICOM data elements after the file header"),
    "inside the Patient Name value": (lambda d: element(d, PATIENT_NAME, b"PN") + 10,
                                      r"Secondary Capture Image Storage \(OT\): no pixel data"),
    "inside the Rows element header": (lambda d: element(d, ROWS, b"US") + 3, r"\(OT\): no pixel data"),
    "inside the Pixel Data length": (lambda d: element(d, PIXEL, b"OW") + 10,
                                     r"DICOM header truncated or damaged \(struct.error: unpack requires"),
    "10 bytes into the pixel data": (lambda d: element(d, PIXEL, b"OW") + 12 + 10,
                                     r"pixel data truncated: 10 bytes, but rows x columns x frames needs 8192"),
    "1 byte before the end": (lambda d: len(d) - 1, r"pixel data truncated: 8191 bytes, but .* needs 8192"),
}

for where, (offset, expected) in TRUNCATIONS.items():
    @case(f"generated DICOM truncated {where}")
    def _(tmp, offset=offset, expected=expected):
        data = base_dicom(tmp)
        return Case(written(tmp, "cut.dcm", data[:offset(data)]), expected)


# The real files cut at 10 offsets each. What a cut file gives depends on where the cut falls; every one is refused
# with one of these messages, except that an encapsulated file cut inside the length of its final sequence
# delimiter still holds every fragment, and opens.
FIXTURE_CUTS = (1, 100, 132, 300, 1000, "pixel tag", "pixel value", "half", "end - 100", "end - 1")
CUT_ERRORS = (r"not a DICOM file|no pixel data|no DICOM data elements|DICOM header truncated or damaged|"
              r"pixel data truncated|cannot decode frame 0")


def cut_at(data: bytes, where) -> int:
    pixel = data.rindex(b"\xe0\x7f\x10\x00")
    return {"pixel tag": pixel + 4, "pixel value": pixel + 100, "half": len(data) // 2, "end - 100": len(data) - 100,
            "end - 1": len(data) - 1}.get(where, where)


for fixture, opens_at_end in (("dx_chest_nih_uncompressed.dcm", False), ("cr_chest_siim_jpeg_baseline.dcm", True),
                              ("mr_multiframe_rle.dcm", True)):
    for where in FIXTURE_CUTS:
        @case(f"{fixture} truncated at {where}", fixture=True)
        def _(tmp, fixture=fixture, where=where, opens_at_end=opens_at_end):
            data = (FIXTURES / "dicom" / fixture).read_bytes()
            opens = opens_at_end and where == "end - 1"
            return Case(written(tmp, fixture, data[:cut_at(data, where)]), CUT_ERRORS, opens=opens)


# ---------------------------------------------------------------------------------------------------------------
# Bit flips in the header of a generated DICOM: each names what it breaks

FLIPS = {
    "DICM magic": (lambda d: 129, 0, r"DICOM dataset: no pixel data"),  # not DICM: read as headerless, finds garbage
    "Transfer Syntax UID": (lambda d: d.index(b"1.2.840.10008.1.2.1\x00") + 17, 0,
                            r"unsupported transfer syntax 1\.2\.840\.10008\.1\.2/1, which is not one DICOM defines: "
                            r"no installed"),
    "Rows high bit": (lambda d: element(d, ROWS, b"US") + 9, 7, r"pixel data truncated: 8192 bytes, .* needs 4202496"),
    "Columns low bit": (lambda d: element(d, COLUMNS, b"US") + 8, 0,
                        r"pixel data truncated: 8192 bytes, .* needs 8320"),
    "Bits Allocated 16 to 24": (lambda d: element(d, BITS_ALLOCATED, b"US") + 8, 3, r"needs 12288"),
    "Samples per Pixel 1 to 3": (lambda d: element(d, SAMPLES, b"US") + 8, 1, r"needs 24576"),
    "Photometric Interpretation": (lambda d: element(d, PHOTOMETRIC, b"CS") + 17, 1,
                                   r"Photometric Interpretation' value 'MONOCHROMG2'"),
    "VR of Rows": (lambda d: element(d, ROWS, b"US") + 5, 1,
                   r"Unknown Value Representation 'UQ' in tag \(0028,0010\)"),
    "Pixel Data tag": (lambda d: element(d, PIXEL, b"OW") + 2, 0, r"\(OT\): no pixel data"),
}
# Flips the file survives: frame 0 shows what the (damaged) header says it holds.
HARMLESS_FLIPS = {
    "Pixel Representation to signed": (lambda d: element(d, PIXEL_REPRESENTATION, b"US") + 8, 0,
                                       shows_base_as_signed),
    "Pixel Data VR OW to OV": (lambda d: element(d, PIXEL, b"OW") + 5, 0, shows_base),
    "Pixel Data length high bit": (lambda d: element(d, PIXEL, b"OW") + 11, 7, shows_base),  # past the end: bounded
    # Found by the fuzzer: the listing read this file meta element (is it a DICOMDIR?) and skipped a file that opens.
    "VR of Media Storage SOP Class UID": (lambda d: element(d, 0x00020002, b"UI") + 4, 0, shows_base),
}

for name, (at, bit, expected) in FLIPS.items():
    @case(f"bit flip in {name}")
    def _(tmp, at=at, bit=bit, expected=expected):
        data = base_dicom(tmp)
        return Case(written(tmp, "flip.dcm", flipped(data, at(data), bit)), expected)

@case("NUL byte in Photometric Interpretation")
def _(tmp):
    # Found by the fuzzer: pydicom quotes the raw value in its message, and the NUL reached the "one-line" error.
    data = base_dicom(tmp)
    data = patched(data, element(data, PHOTOMETRIC, b"CS") + 8, b"\x00")
    return Case(written(tmp, "nul.dcm", data), r"'Photometric Interpretation' value '\?ONOCHROME2'")


for name, (at, bit, check) in HARMLESS_FLIPS.items():
    @case(f"bit flip in {name}")
    def _(tmp, at=at, bit=bit, check=check):
        data = base_dicom(tmp)
        return Case(written(tmp, "flip.dcm", flipped(data, at(data), bit)), opens=True, check=check)


# ---------------------------------------------------------------------------------------------------------------
# Length fields overwritten

LENGTHS = {
    "Patient Name length 0xFFFF": (lambda d: element(d, PATIENT_NAME, b"PN") + 6, b"\xff\xff",
                                   r"\(OT\): no pixel data"),  # swallows the rest of the file
    "Rows length 4": (lambda d: element(d, ROWS, b"US") + 6, b"\x04\x00", r"\(OT\): no pixel data"),
    "Window Center length 0xFFFF": (lambda d: element(d, WINDOW_CENTER, b"DS") + 6, b"\xff\xff",
                                    r"\(OT\): no pixel data"),
    "Transfer Syntax UID length 40": (lambda d: d.index(b"1.2.840.10008.1.2.1\x00") - 2, b"\x28\x00",
                                      r"no pixel data"),
    "Pixel Data length 10": (lambda d: element(d, PIXEL, b"OW") + 8, struct.pack("<I", 10),
                             r"pixel data truncated: 10 bytes"),
    "Pixel Data length odd": (lambda d: element(d, PIXEL, b"OW") + 8, struct.pack("<I", 8191),
                              r"pixel data truncated: 8191 bytes"),
}
LENGTHS["SOP Class UID length 0x0200"] = (  # found by the fuzzer: the header's bytes (newlines too) in the message
    lambda d: element(d, 0x00080016, b"UI") + 6, b"\x00\x02", r": 1\.2\.840\.10008\.5\.1\.4\.1\.1\.7\?.{20,}\.\.\. "
                                                               r"\(no modality\): no pixel data")
HARMLESS_LENGTHS = {
    "Pixel Data length 0xFFFFFFF0": (lambda d: element(d, PIXEL, b"OW") + 8, struct.pack("<I", 0xFFFFFFF0)),
    "File Meta group length 0xFFFFFFF0": (lambda d: element(d, 0x00020000, b"UL") + 8,
                                          struct.pack("<I", 0xFFFFFFF0)),
}

for name, (at, value, expected) in LENGTHS.items():
    @case(f"wrong length: {name}")
    def _(tmp, at=at, value=value, expected=expected):
        data = base_dicom(tmp)
        return Case(written(tmp, "length.dcm", patched(data, at(data), value)), expected)

for name, (at, value) in HARMLESS_LENGTHS.items():
    @case(f"wrong length: {name}")
    def _(tmp, at=at, value=value):
        data = base_dicom(tmp)
        return Case(written(tmp, "length.dcm", patched(data, at(data), value)), opens=True, check=shows_base)


# ---------------------------------------------------------------------------------------------------------------
# Pixel data against the image description


@case("three frames declared, two stored")
def _(tmp):
    path = native(tmp, "frames.dcm", 8, 8, 8, bytes(128), NumberOfFrames=3)
    return Case(path, r"pixel data truncated: 128 bytes, but rows x columns x frames needs 192")


@case("Number of Frames 2**31 - 1 over native data")
def _(tmp):
    path = native(tmp, "frames.dcm", 8, 8, 8, bytes(64), NumberOfFrames=2**31 - 1)
    return Case(path, r"pixel data truncated: 64 bytes, but rows x columns x frames needs 137438953408", bomb=True)


@case("Rows 0")
def _(tmp):
    return Case(native(tmp, "rows0.dcm", 0, 4, 8, bytes(16)), r"pixel data without rows/columns")


@case("Columns 0")
def _(tmp):
    return Case(native(tmp, "cols0.dcm", 4, 0, 8, bytes(16)), r"pixel data without rows/columns")


@case("Rows 65535")
def _(tmp):
    return Case(native(tmp, "rows.dcm", 65535, 4, 8, bytes(16)), r"pixel data truncated: 16 bytes, .* needs 262140")


@case("Rows and Columns 65535")
def _(tmp):
    return Case(native(tmp, "huge.dcm", 65535, 65535, 8, bytes(16)),
                r"image too large: 65535 x 65535 = 4294836225 pixels a frame \(limit \d+\)", bomb=True)


@case("RLE frame declaring 60000 x 60000 (decompression bomb)")
def _(tmp):
    ds = dcmread(written(tmp, "rle.dcm", rle(tmp)))
    ds.Rows = ds.Columns = 60000
    ds.save_as(tmp / "bomb.dcm")
    return Case(tmp / "bomb.dcm", r"image too large: 60000 x 60000 = 3600000000 pixels a frame", bomb=True)


@case("Bits Allocated 1")
def _(tmp):
    bits = np.random.default_rng(5).integers(0, 2, (16, 16), dtype=np.uint8)
    packed = np.packbits(bits.ravel(), bitorder="little").tobytes()  # DICOM packs the first pixel in bit 0

    def check(shown):
        assert np.array_equal(shown, bits * 255)
    return Case(native(tmp, "bits1.dcm", 16, 16, 1, packed), opens=True, check=check)


@case("Bits Allocated 12 (packed, not valid for native data)")
def _(tmp):
    return Case(native(tmp, "bits12.dcm", 16, 16, 12, bytes(16 * 16 * 3 // 2)),
                r"'Bits Allocated' value of '12' is invalid, it must be 1 or a multiple of 8")


def ramp_check(values: np.ndarray) -> Callable[[np.ndarray], None]:
    """The auto window of a ramp: the lowest (finite) value black, the highest white, monotonic in between."""
    finite = np.isfinite(values)
    order = np.argsort(values[finite], kind="stable")

    def check(shown):
        ranked = shown[finite][order].astype(int)
        assert ranked[0] == 0 and ranked[-1] == 255 and np.all(np.diff(ranked) >= 0), ranked
    return check


INTEGER_DEPTHS = {"Bits Allocated 32 unsigned": (np.uint32, False), "Bits Allocated 32 signed": (np.int32, True),
                  "Bits Allocated 64 unsigned": (np.uint64, False), "Bits Allocated 64 signed": (np.int64, True),
                  "Bits Allocated 8 signed": (np.int8, True)}

for name, (dtype, signed) in INTEGER_DEPTHS.items():
    @case(name)
    def _(tmp, dtype=dtype, signed=signed):
        info = np.iinfo(dtype)
        step = (int(info.max) - int(info.min)) // 255  # Python ints: the full range, exactly
        values = np.array([int(info.min) + k * step for k in range(256)], dtype=dtype)
        values = values.reshape(16, 16)[np.random.default_rng(6).permutation(16)]
        path = native(tmp, "deep.dcm", 16, 16, info.bits, values.astype(values.dtype.newbyteorder("<")).tobytes(),
                      signed)
        return Case(path, opens=True, check=ramp_check(values))


for keyword, dtype in (("FloatPixelData", np.float32), ("DoubleFloatPixelData", np.float64)):
    @case(f"{keyword}")
    def _(tmp, keyword=keyword, dtype=dtype):
        values = np.linspace(-1000.5, 3000.25, 24 * 20, dtype=dtype).reshape(24, 20)
        path = native(tmp, "float.dcm", 24, 20, dtype(0).itemsize * 8, values.tobytes(), keyword=keyword)
        return Case(path, opens=True, check=ramp_check(values))

    @case(f"{keyword} with NaN and infinities")
    def _(tmp, keyword=keyword, dtype=dtype):
        values = np.linspace(0, 1, 16 * 16, dtype=dtype).reshape(16, 16)
        values[0, :3] = [np.nan, np.inf, -np.inf]

        def check(shown):
            assert shown[0, :3].tolist() == [0, 255, 0]  # NaN black, infinities at the ends
            ramp_check(values)(shown)
        return Case(native(tmp, "nan.dcm", 16, 16, dtype(0).itemsize * 8, values.tobytes(), keyword=keyword),
                    opens=True, check=check)


@case("DoubleFloatPixelData of random bytes (NaN, inf, 1e308, subnormals)")
def _(tmp):
    return Case(native(tmp, "noise.dcm", 32, 32, 64, np.random.default_rng(7).bytes(32 * 32 * 8),
                       keyword="DoubleFloatPixelData"), opens=True)


# ---------------------------------------------------------------------------------------------------------------
# Transfer syntaxes nothing installed can decode (JPEG XL: see test_io_dicom)


def with_syntax(data: bytes, uid: bytes) -> bytes:
    """The file meta's Transfer Syntax UID replaced (pydicom will not write one it cannot encode)."""
    at = data.index(b"\x02\x00\x10\x00UI")
    old = struct.unpack("<H", data[at + 6:at + 8])[0]
    uid = uid + b"\x00" * (len(uid) % 2)
    out = data[:at + 6] + struct.pack("<H", len(uid)) + uid + data[at + 8 + old:]
    group = out.index(b"\x02\x00\x00\x00UL")
    length = struct.unpack("<I", out[group + 8:group + 12])[0] + len(uid) - old
    return patched(out, group + 8, struct.pack("<I", length))


@case("unknown transfer syntax UID")
def _(tmp):
    data = with_syntax(base_dicom(tmp), b"1.2.3.4")
    return Case(written(tmp, "syntax.dcm", data),
                r"unsupported transfer syntax 1\.2\.3\.4, which is not one DICOM defines: no installed plugin")


@case("MPEG2 transfer syntax (no decoder)")
def _(tmp):
    data = with_syntax(rle(tmp), b"1.2.840.10008.1.2.4.100")
    return Case(written(tmp, "mpeg.dcm", data), r"unsupported transfer syntax MPEG2 Main Profile / Main Level")


# ---------------------------------------------------------------------------------------------------------------
# Encapsulated pixel data with a broken Basic Offset Table or fragment items

ENCAPSULATED = {
    # name: (patch(data) -> data, frame 0 opens, error for the frames that do not)
    # Frame 0 is the fragments before the second offset: a wrong one cuts frame 0 short too.
    "Basic Offset Table: second offset wrong": (lambda d: patched(d, offset_table(d)[0] + 12, struct.pack("<I", 77)),
                                                False, r"cannot decode frame [01] \(RLE Lossless\)"),
    "Basic Offset Table: second offset 0xFFFFFFF0": (
        lambda d: patched(d, offset_table(d)[0] + 12, struct.pack("<I", 0xFFFFFFF0)), True,
        r"cannot decode frame 1 \(RLE Lossless\)"),
    "Basic Offset Table: length 0xFFFFFFF0": (
        lambda d: patched(d, offset_table(d)[0] + 4, struct.pack("<I", 0xFFFFFFF0)), False,
        r"cannot decode frame \d \(RLE Lossless\): struct.error: unpack requires a buffer"),
    "Basic Offset Table: length not a multiple of 4": (
        lambda d: patched(d, offset_table(d)[0] + 4, struct.pack("<I", 5)), False,
        r"Basic Offset Table item is not a multiple of 4"),
    "fragment length past the end of the file": (
        lambda d: patched(d, offset_table(d)[1] + 4, struct.pack("<I", 0x00FFFFFF)), True, None),
    "fragment length 0xFFFFFFF0": (
        lambda d: patched(d, offset_table(d)[1] + 4, struct.pack("<I", 0xFFFFFFF0)), True, None),
    # Frame 1 is found through the offset table and still opens.
    "fragment length 0": (lambda d: patched(d, offset_table(d)[1] + 4, bytes(4)), False,
                          r"cannot decode frame 0 \(RLE Lossless\): ValueError: Unexpected tag"),
    "fragment item tag damaged": (lambda d: patched(d, offset_table(d)[1], bytes(4)), False,
                                  r"Unexpected tag '\(0000,0000\)' at offset 0"),
    "no sequence delimiter": (lambda d: d[:d.rindex(b"\xfe\xff\xdd\xe0")], False,
                              r"no DICOM data elements after the file header \(End of file reached before "
                              r"delimiter \(FFFE,E0DD\)"),
}

for name, (damage, opens, expected) in ENCAPSULATED.items():
    @case(f"encapsulated: {name}")
    def _(tmp, damage=damage, opens=opens, expected=expected):
        return Case(written(tmp, "encapsulated.dcm", damage(rle(tmp))), expected, opens=opens, bomb=True)


@case("encapsulated: Number of Frames 2**31 - 1 over two fragments")
def _(tmp):
    ds = dcmread(written(tmp, "rle.dcm", rle(tmp)))
    ds.NumberOfFrames = 2**31 - 1
    ds.save_as(tmp / "frames.dcm")
    # The listing reports what the header says; frame 0 shows, the last frame is refused without a loop over all.
    return Case(tmp / "frames.dcm", r"cannot decode frame 2147483646 \(RLE Lossless\)", opens=True)


# ---------------------------------------------------------------------------------------------------------------
# Codestreams that disagree with their header, decoders that panic or print


def compressed(folder: Path, syntax: str) -> bytes:
    """RAMP (64 x 64, 12 bits) compressed by pydicom's encoders (RLE, JPEG-LS, JPEG 2000)."""
    ds = dcmread(write_dicom(folder / "plain.dcm", RAMP, bits_stored=12))
    ds.compress(syntax)
    ds.save_as(folder / "packed.dcm")
    return (folder / "packed.dcm").read_bytes()


def jpeg_baseline(folder: Path) -> bytes:
    """An 8-bit 64 x 48 JPEG from Pillow, encapsulated as JPEG Baseline (pydicom has no JPEG encoder)."""
    from pydicom.encaps import encapsulate

    buffer = io.BytesIO()
    Image.fromarray(GREY_64x48).save(buffer, "JPEG", quality=95)
    path = write_dicom(folder / "jpeg.dcm", None, Rows=64, Columns=48, BitsAllocated=8, BitsStored=8, HighBit=7,
                       PixelRepresentation=0, **MONO, PixelData=encapsulate([buffer.getvalue()]))
    return with_syntax(path.read_bytes(), b"1.2.840.10008.1.2.4.50")


GREY_64x48 = (np.arange(64 * 48).reshape(64, 48) % 251).astype(np.uint8)
CODESTREAM_SIZE = {  # where each codestream keeps its height and width
    "JPEG 2000": (b"\xff\x51", lambda at: [(at + 6, ">II", (30000, 30000)), (at + 22, ">II", (30000, 30000))]),
    "JPEG-LS": (b"\xff\xf7", lambda at: [(at + 5, ">HH", (30000, 30000))]),
    "JPEG": (b"\xff\xc0", lambda at: [(at + 5, ">HH", (30000, 30000))]),
}
SOURCES = {"JPEG 2000": lambda tmp: compressed(tmp, "1.2.840.10008.1.2.4.90"),
           "JPEG-LS": lambda tmp: compressed(tmp, "1.2.840.10008.1.2.4.80"), "JPEG": jpeg_baseline}

for kind, (marker, fields) in CODESTREAM_SIZE.items():
    @case(f"{kind} codestream declaring 30000 x 30000 inside a small header (decompression bomb)")
    def _(tmp, kind=kind, marker=marker, fields=fields):
        # The decoder allocates what the codestream says (2 GB and 3.5 GB measured for JPEG 2000 and JPEG-LS).
        data = SOURCES[kind](tmp)
        for at, layout, values in fields(data.index(marker)):
            data = patched(data, at, struct.pack(layout, *values))
        header = "64 x 48" if kind == "JPEG" else "64 x 64"
        return Case(written(tmp, "bomb.dcm", data),
                    rf"frame 0 is a {kind} codestream of 30000 x 30000 pixels, more than the {header} of its header",
                    bomb=True)

    @case(f"{kind} frame (intact)")
    def _(tmp, kind=kind):
        check = None if kind == "JPEG" else shows_base_unwindowed
        return Case(written(tmp, "intact.dcm", SOURCES[kind](tmp)), opens=True, check=check)


def shows_base_unwindowed(shown: np.ndarray) -> None:
    """RAMP through the auto window: monotonic in the stored value, black to white."""
    ramp_check(RAMP.astype(float))(shown)


@case("JPEG 2000 SIZ segment cut short (gdcm aborted the process)")
def _(tmp):
    # Found by the fuzzer: 23 bytes deleted inside the SIZ marker segment. gdcm, which pydicom tries first, threw a
    # C++ exception nothing catches and the whole process aborted; gdcm no longer decodes JPEG 2000.
    data = compressed(tmp, "1.2.840.10008.1.2.4.90")
    at = data.index(b"\xff\x51")
    data = data[:at + 18] + data[at + 38:at + 40] + data[at + 43:]
    # The cut leaves a SIZ of 0 rows, refused before any decoder sees it.
    return Case(written(tmp, "siz.dcm", data), r"frame 0 is a JPEG 2000 codestream of 0 x 64 pixels, not the 64 x 64 "
                                                r"of its header")


@case("JPEG Lossless frame, decoded by gdcm (intact)")
def _(tmp):
    path = jpeg_lossless(written(tmp, "base.dcm", base_dicom(tmp)), tmp / "lossless.dcm")
    return Case(path, opens=True, check=shows_base)


@case("JPEG Lossless frame cut in half")
def _(tmp):
    data = jpeg_lossless(written(tmp, "base.dcm", base_dicom(tmp)), tmp / "lossless.dcm").read_bytes()
    return Case(written(tmp, "cut.dcm", data[:len(data) // 2]), r"no DICOM data elements after the file header")


@case("JPEG 2000 tile-part length past the stream (openjpeg prints to stderr)")
def _(tmp):
    data = compressed(tmp, "1.2.840.10008.1.2.4.90")
    at = data.index(b"\xff\x90")  # SOT: marker, Lsot, Isot, Psot (tile-part length)
    return Case(written(tmp, "sot.dcm", patched(data, at + 6, struct.pack(">I", 0xFFFF))),
                r"cannot decode frame 0 \(JPEG 2000 Image Compression \(Lossless Only\)\)")


def rle_frame(segments: list[bytes]) -> bytes:
    """An RLE Lossless frame (PS3.5 G.3): a 64-byte header of segment count and offsets, then the segments."""
    offsets, at = [], 64
    for segment in segments:
        offsets.append(at)
        at += len(segment)
    return struct.pack("<16I", len(segments), *offsets, *[0] * (15 - len(offsets))) + b"".join(segments)


@case("RLE run longer than its frame (pylibjpeg-rle panics)")
def _(tmp):
    # Found by the fuzzer: a replicate run of 128 bytes in a 16-byte segment makes the Rust decoder panic, and
    # pyo3's PanicException is a BaseException: it went straight through every `except Exception`.
    from pydicom.encaps import encapsulate

    frame = rle_frame([b"\x81\x00", b"\x0f" + bytes(16)])  # 4 x 4, 16 bits: two segments of 16 bytes
    path = write_dicom(tmp / "panic.dcm", None, Rows=4, Columns=4, BitsAllocated=16, BitsStored=16, HighBit=15,
                       PixelRepresentation=0, **MONO, PixelData=encapsulate([frame]))
    data = with_syntax(path.read_bytes(), b"1.2.840.10008.1.2.5")
    return Case(written(tmp, "panic.dcm", data),
                r"cannot decode frame 0 \(RLE Lossless\): PanicException: index out of bounds")


@case("Deflated Explicit VR Little Endian (valid)")
def _(tmp):
    ds = dcmread(written(tmp, "base.dcm", base_dicom(tmp)))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1.99"
    ds.save_as(tmp / "deflated.dcm")
    return Case(tmp / "deflated.dcm", opens=True, check=shows_base)


@case("invalid UID values (pydicom warns as it converts them)")
def _(tmp):
    data = base_dicom(tmp)
    at = data.index(b"1.2.840.10008.5.1.4.1.1.7\x00")  # the SOP Class UID, in the file meta and the data set
    data = patched(data, at, b"1.2.840.10008.5.1.4.1.1.x")
    data = patched(data, data.index(b"1.2.840.10008.5.1.4.1.1.7\x00"), b"1.2.840.10008.5.1.4.1.1.x")
    # Opens; the warnings become notes in its metadata, never lines on stderr (the CLI check wants none).
    return Case(written(tmp, "uid.dcm", data), opens=True, check=shows_base)


def with_voi_lut(tmp: Path, bits: int) -> Path:
    """The base image with a VOI LUT Sequence item of 4096 entries (x -> 16 x, in 16-bit words), no window."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    item = Dataset()
    item.LUTDescriptor = [4096, 0, bits]
    item.LUTData = (np.arange(4096) * 16).astype("<u2").tobytes()
    item.LUTExplanation = "TEST LUT"
    return write_dicom(tmp / "lut.dcm", RAMP, bits_stored=12, VOILUTSequence=Sequence([item]))


@case("VOI LUT (valid)")
def _(tmp):
    expected = np.rint(RAMP.astype(float) * 16 * 255 / 65535).astype(np.uint8)  # 16-bit LUT output to 0..255
    return Case(with_voi_lut(tmp, 16), opens=True, check=lambda shown: np.testing.assert_array_equal(shown, expected))


@case("VOI LUT declaring 0 bits per entry (render crashed)")
def _(tmp):
    # Found by the fuzzer: the LUT passed opening and failed in render(), outside the one-line error handling
    # (exit code 1, an internal error). The damaged LUT is left out with a note; the auto window shows the image.
    path = with_voi_lut(tmp, 0)

    def check(shown):
        image = open_image(path)
        assert [w.explanation for w in image.windows] == ["auto"]
        assert any(note.startswith("VOI LUT 1 ignored: NotImplementedError: '0' bits per LUT entry")
                   for note in image.metadata["warnings"]), image.metadata["warnings"]
        ramp_check(RAMP.astype(float))(shown)
    return Case(path, opens=True, check=check)


# ---------------------------------------------------------------------------------------------------------------
# Raster images


@case("PNG with a bad IDAT CRC")
def _(tmp):
    data = grey_png()
    at = data.index(b"IDAT")
    end = at + 4 + struct.unpack(">I", data[at - 4:at])[0]
    # Pillow does not check data CRCs; zlib's own Adler-32 still guards the pixels, which are intact here.
    return Case(written(tmp, "crc.png", flipped(data, end, 0)), opens=True,
                check=lambda shown: np.testing.assert_array_equal(shown, GREY))


@case("PNG with a bad IHDR CRC")
def _(tmp):
    return Case(written(tmp, "crc.png", flipped(grey_png(), 29, 0)), NOT_READABLE)


@case("PNG with damaged IDAT data")
def _(tmp):
    data = grey_png()
    return Case(written(tmp, "idat.png", flipped(data, data.index(b"IDAT") + 40, 3)),
                r"cannot read: OSError: broken data stream when reading image file")


@case("PNG declaring 100000 x 100000 (decompression bomb)")
def _(tmp):
    return Case(written(tmp, "bomb.png", png(100_000, 100_000, 8, 0, bytes(64))),
                r"image too large: 10000000000 pixels \(limit \d+\)", bomb=True)


@case("16-bit RGBA PNG")
def _(tmp):
    rgba = np.random.default_rng(8).integers(0, 65536, (6, 9, 4), dtype=np.uint16)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in rgba)

    def check(shown):  # alpha dropped, 16 bits brought to 8 (Pillow keeps the high byte: within 1 of v / 257)
        assert shown.shape == (6, 9, 3)
        assert np.abs(shown.astype(int) - np.rint(rgba[..., :3] / 257)).max() <= 1
    return Case(written(tmp, "rgba16.png", png(9, 6, 16, 6, rows)), opens=True, check=check)


@case("1x1 PNG")
def _(tmp):
    return Case(written(tmp, "one.png", png(1, 1, 8, 0, b"\x00\x07")), opens=True,
                check=lambda shown: np.testing.assert_array_equal(shown, [[7]]))  # 8-bit grey shown as stored


@case("1x1 DICOM")
def _(tmp):
    path = write_dicom(tmp / "one.dcm", np.array([[700]], np.uint16), bits_stored=12, WindowCenter=700,
                       WindowWidth=100)
    return Case(path, opens=True, check=lambda shown: np.testing.assert_array_equal(shown, [[129]]))


@case("1x1 DICOM without a window")
def _(tmp):
    path = write_dicom(tmp / "one.dcm", np.array([[700]], np.uint16))
    return Case(path, opens=True, check=lambda shown: np.testing.assert_equal(shown.shape, (1, 1)))


def with_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """`data` (a PNG) with a chunk inserted before its first IDAT."""
    at = data.index(b"IDAT") - 4
    return data[:at] + chunk(kind, body) + data[at:]


@case("PNG with a truncated eXIf chunk")
def _(tmp):
    data = with_chunk(grey_png(), b"eXIf", b"MM\x00\x2a\x00\x00\x00\x08\x00\x05")  # 5 entries promised, none
    return Case(written(tmp, "exif.png", data), opens=True,
                check=lambda shown: np.testing.assert_array_equal(shown, GREY))


@case("PNG with a garbage eXIf chunk")
def _(tmp):
    # Pillow raises on it while reading the orientation: the pixels are good, so it shows them unrotated.
    data = with_chunk(grey_png(), b"eXIf", b"Exif\x00\x00garbage")
    return Case(written(tmp, "exif.png", data), opens=True,
                check=lambda shown: np.testing.assert_array_equal(shown, GREY))


JPEG_CUTS = {"in its header": (20, NOT_READABLE), "after its tables": (300, r"OSError: Truncated File Read"),
             "halfway": ("half", r"cannot read: OSError: image file is truncated")}

for where, (cut, expected) in JPEG_CUTS.items():
    @case(f"JPEG truncated {where}")
    def _(tmp, cut=cut, expected=expected):
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(9).integers(0, 256, (64, 64), dtype=np.uint8)).save(buffer, "JPEG")
        data = buffer.getvalue()
        return Case(written(tmp, "cut.jpg", data[:len(data) // 2 if cut == "half" else cut]), expected)


# ---------------------------------------------------------------------------------------------------------------
# Lengths that could make a reader loop or allocate for ever


def with_elements(data: bytes, extra: bytes, before: int = PATIENT_NAME) -> bytes:
    """`extra` (raw elements) inserted before the element `before` of an explicit VR little endian file."""
    at = data.index(struct.pack("<HH", before >> 16, before & 0xFFFF))
    return data[:at] + extra + data[at:]


def undefined_sequence(tag: int = 0x00081140) -> bytes:
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"SQ\x00\x00" + struct.pack("<I", 0xFFFFFFFF)


UNDEFINED_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
ITEM_END, SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0), struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


@case("header element declaring 0xFFFFFFF0 bytes")
def _(tmp):
    private = struct.pack("<HH", 0x0009, 0x1010) + b"OB\x00\x00" + struct.pack("<I", 0xFFFFFFF0) + b"abcd"
    return Case(written(tmp, "long.dcm", with_elements(base_dicom(tmp), private)), r"\(OT\): no pixel data",
                bomb=True)


@case("headerless file whose first element declares 0xFFFFFFF0 bytes")
def _(tmp):
    # Read as implicit VR (no preamble): the deferred SOP Class UID read used to ask for 4 GB (MemoryError).
    data = struct.pack("<HHI", 0x0008, 0x0016, 0xFFFFFFF0) + b"1.2.840.10008.5.1.4.1.1.7"
    return Case(written(tmp, "headerless.dcm", data), r"no pixel data", bomb=True)


@case("undefined-length sequence without delimiters")
def _(tmp):
    data = with_elements(base_dicom(tmp), undefined_sequence() + UNDEFINED_ITEM)
    return Case(written(tmp, "sequence.dcm", data), r"DICOM header truncated or damaged \(OSError: No tag to read")


@case("undefined-length sequence running to the end of the file")
def _(tmp):
    data = base_dicom(tmp)
    data = data[:data.index(struct.pack("<HH", 0x0010, 0x0010))] + undefined_sequence() + UNDEFINED_ITEM
    return Case(written(tmp, "sequence.dcm", data), r"DICOM header truncated or damaged \(OSError: No tag to read")


@case("sequence item declaring 0xFFFFFFF0 bytes")
def _(tmp):
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFF0)
    data = with_elements(base_dicom(tmp), undefined_sequence() + item)
    return Case(written(tmp, "item.dcm", data), r"DICOM header truncated or damaged", bomb=True)


@case("sequences nested 1000 deep")
def _(tmp):
    nested = (undefined_sequence() + UNDEFINED_ITEM) * 1000 + (ITEM_END + SEQUENCE_END) * 1000
    data = with_elements(base_dicom(tmp), nested)
    return Case(written(tmp, "nested.dcm", data), r"sequences nested too deeply to read")


@case("sequences nested 5 deep (still opens)")
def _(tmp):
    nested = (undefined_sequence() + UNDEFINED_ITEM) * 5 + (ITEM_END + SEQUENCE_END) * 5
    data = with_elements(base_dicom(tmp), nested)
    return Case(written(tmp, "nested.dcm", data), opens=True, check=shows_base)


# ---------------------------------------------------------------------------------------------------------------
# The tests: every case through the library (listing, every frame, every window) and through `radcam-cli view`

NAMES = [pytest.param(name, marks=needs_fixtures) if name in FIXTURE_CASES else name for name in CASES]


@pytest.mark.parametrize("name", NAMES)
def test_library_outcome(name, tmp_path):
    made = CASES[name](tmp_path)
    if made.bomb:
        (renders, errors), peak = within(DEADLINE, peak_allocation, open_everything, made.path)
        assert peak < BOMB_PEAK, f"peak allocation {peak / 2**20:.0f} MB"
    else:
        renders, errors = within(DEADLINE, open_everything, made.path)
    if made.error is None:
        assert not errors, errors
    for message in errors:
        assert re.search(made.error, message), message
    # Frame 0, as `radcam-cli view` shows it.
    if made.opens:
        assert renders, errors
        shown = open_image(made.path).render()
        check_render(shown)
        if made.check:
            made.check(shown)
    else:
        with pytest.raises(RadcamError) as refused:
            open_image(made.path)
        assert re.search(made.error, check_error(refused.value, made.path))


@pytest.mark.parametrize("name", NAMES)
def test_cli_view_outcome(name, tmp_path, capfd):
    made = CASES[name](tmp_path)
    out = tmp_path / "shown.png"
    code, err = within(DEADLINE, view, capfd, made.path, out)
    if made.opens:
        assert code == 0 and err == "", err
        assert np.asarray(Image.open(out)).dtype == np.uint8
    else:
        assert_one_line_error(code, err)
        assert re.search(made.error, err), err
        assert not out.exists()


def test_a_folder_of_10000_non_image_files_lists_them_as_skipped(tmp_path, record_property):
    kinds = [("notes_{:05d}.txt", b"visit notes\n"), ("scan_{:05d}.dcm", b"not DICOM at all\n"),
             ("photo_{:05d}.png", b"not a PNG\n"), ("empty_{:05d}", b"")]
    for i in range(10_000):
        pattern, content = kinds[i % len(kinds)]
        (tmp_path / pattern.format(i)).write_bytes(content)
    write_dicom(tmp_path / "the_image.dcm", RAMP, bits_stored=12)
    start = time.perf_counter()
    result = within(300, load, [tmp_path])
    seconds = time.perf_counter() - start
    record_property("listing_seconds", round(seconds, 2))
    print(f"\nlisting 10,001 files took {seconds:.2f} s")
    assert [i.path.name for st in result.studies for s in st.series for i in s.instances] == ["the_image.dcm"]
    assert len(result.skipped) == 10_000
    reasons = {s.path.name.split("_")[0]: s.reason for s in result.skipped}
    assert reasons == {"notes": NOT_READABLE, "scan": NOT_READABLE, "photo": NOT_READABLE,
                       "empty": "empty file (0 bytes)"}
    assert seconds < 120  # measured about 2 s on 2 cores; only a pathological slowdown fails


# pytest records Python warnings itself, so only a separate process shows what a user's terminal gets: nothing on
# success (pydicom's and Pillow's warnings become notes), one line on failure (openjpeg's messages and Rust's panic
# report on fd 2 are captured by the decoder call).
SUBPROCESS_CASES = ["invalid UID values (pydicom warns as it converts them)", "PNG with a truncated eXIf chunk",
                    "JPEG 2000 tile-part length past the stream (openjpeg prints to stderr)",
                    "RLE run longer than its frame (pylibjpeg-rle panics)"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_cli_in_its_own_process_prints_one_line_or_nothing(name, tmp_path):
    made = CASES[name](tmp_path)
    run = subprocess.run([sys.executable, "-m", "viewer.cli", "view", str(made.path), "--out", str(tmp_path / "x.png")],
                         capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    if made.opens:
        assert (run.returncode, run.stderr) == (0, "")
    else:
        assert_one_line_error(run.returncode, run.stderr)
        assert re.search(made.error, run.stderr), run.stderr


def test_a_deflate_bomb_is_refused_before_inflating(tmp_path, monkeypatch):
    """pydicom inflates a deflated data set whole while reading the header (folder listings included): a few MB of
    zeros would become gigabytes. The inflated size is measured in chunks first and refused above the limit."""
    monkeypatch.setattr("viewer.io.guards.MAX_INFLATED", 1 << 20)
    ds = dcmread(write_dicom(tmp_path / "zeros.dcm", np.zeros((1024, 1024), np.uint16)))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1.99"
    ds.save_as(tmp_path / "bomb.dcm")
    (tmp_path / "zeros.dcm").unlink()
    assert (tmp_path / "bomb.dcm").stat().st_size < 10_000  # 2 MB of pixels deflate to a few kB
    (renders, errors), peak = peak_allocation(open_everything, tmp_path / "bomb.dcm")
    # Skipped by the listing, and refused when opened directly: the same line both times.
    assert not renders and set(errors) == {f"{tmp_path / 'bomb.dcm'}: the deflated data set inflates to more than "
                                           f"{1 << 20} bytes"}
    assert peak < 8 << 20
