"""DICOM files: read the header, tell whether there is an image, and turn one frame into a DisplayImage."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.encaps import get_frame
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder, pixel_array
from pydicom.pixels.utils import get_expected_length, get_nr_frames
from pydicom.uid import (JPEG2000, UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit, JPEGLSLossless, JPEGLSNearLossless,
                         RLELossless)

from ..errors import NoImageError, StudyError
from .failures import NOT_CAUGHT, describe, native_stderr, printable, warning_notes
from .guards import MAX_FRAME_PIXELS, BoundedFile, codestream_size, inflation_problem, is_deflated
from .image import DisplayImage, GreyValues
from .windows import FUNCTIONS, Window, auto_window, covering, lut_windows

# Elements larger than this stay in the file until used, so headers (and folder listings) read fast.
DEFER_SIZE = "64 KB"
PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# pydicom 3.0 does not know these yet; naming them makes "unsupported transfer syntax" readable.
SYNTAX_NAMES = {
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
}
ENCODING_NAMES = {ImplicitVRLittleEndian: "implicit VR little endian",
                  ExplicitVRLittleEndian: "explicit VR little endian",
                  ExplicitVRBigEndian: "explicit VR big endian"}
# gdcm aborts the whole process on some damaged codestreams (a C++ exception nothing catches; the fuzzer found a
# JPEG 2000 frame of height 0). Where another installed plugin decodes a syntax fully, those plugins are used, in
# this order; gdcm keeps the syntaxes only it decodes (JPEG Extended 12-bit, JPEG Lossless).
PLUGINS = {JPEG2000Lossless: ("pylibjpeg", "pillow"), JPEG2000: ("pylibjpeg", "pillow"),
           JPEGLSLossless: ("pyjpegls",), JPEGLSNearLossless: ("pyjpegls",), JPEGBaseline8Bit: ("pillow",)}
ALL_PLUGINS_FAILED = "Unable to decode as exceptions were raised by all available plugins: "
# Old ACR-NEMA style files start straight with an element of one of these groups (little endian).
HEADERLESS_FIRST_GROUPS = (0x0000, 0x0002, 0x0008)


def syntax_name(uid: UID) -> str:
    return SYNTAX_NAMES.get(str(uid)) or (uid.name if uid.is_transfer_syntax else f"unknown ({shown(uid)})")


def shown(value, limit: int = 64) -> str:
    """Text from the file as it may appear in a one-line message: a damaged value can hold newlines, control bytes
    and the rest of the header."""
    text = printable(str(value))
    return text if len(text) <= limit else f"{text[:limit]}..."


def read_dataset(path: Path) -> tuple[Dataset, list[str]]:
    """Header of a DICOM file (large values deferred) and warnings for the user.

    Raises InvalidDicomError when the file is not DICOM at all, StudyError when its header is cut short.
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = _read(path, force=False)
        except InvalidDicomError:
            if not _looks_headerless(path):
                raise
            ds = _read(path, force=True)
    if len(ds) == 0:  # pydicom gives up silently (with a warning) when the data set is cut short or garbled
        found = warning_notes(caught)
        why = f" ({found[0]})" if found else ""
        raise StudyError(f"{path}: no DICOM data elements after the file header{why}")
    if not ds.file_meta.get("TransferSyntaxUID"):
        implicit, little = ds.original_encoding
        syntax = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        ds.file_meta.TransferSyntaxUID = syntax
        notes.append(f"no file meta / preamble: read as {ENCODING_NAMES[syntax]}")
    notes += warning_notes(caught)
    return ds, notes


def _read(path: Path, force: bool) -> Dataset:
    with BoundedFile(path) as f:
        deflated = is_deflated(f)
        if deflated and (problem := inflation_problem(f)):
            raise StudyError(f"{path}: {problem}")
        try:
            # pydicom reads deferred values of a deflated file from the file itself, not from what it inflated.
            ds = dcmread(f, defer_size=None if deflated else DEFER_SIZE, force=force)
        except (struct.error, EOFError, OSError) as exc:  # the file ends inside an element, or lengths disagree
            raise StudyError(f"{path}: DICOM header truncated or damaged ({describe(exc)})") from exc
        except RecursionError as exc:  # pydicom recurses once per nested sequence (~5 frames a level)
            raise StudyError(f"{path}: sequences nested too deeply to read") from exc
    # Deferred values are read again by file name; the closed file object itself would only stop the dataset from
    # being pickled (the viewer sends images back from its decoding processes).
    ds.buffer = None
    return ds


def _looks_headerless(path: Path) -> bool:
    with open(path, "rb") as f:
        start = f.read(8)
    return len(start) == 8 and int.from_bytes(start[:2], "little") in HEADERLESS_FIRST_GROUPS


def no_image_reason(ds: Dataset) -> str | None:
    """Why this dataset has nothing to display, or None when it has pixel data."""
    what = _sop_class_name(ds)
    if not any(tag in ds for tag in PIXEL_TAGS):
        return f"{what}: no pixel data"
    if not ds.get("Rows") or not ds.get("Columns"):
        return f"{what}: pixel data without rows/columns"
    if "NumberOfFrames" in ds and ds.NumberOfFrames is not None and int(ds.NumberOfFrames) == 0:
        return f"{what}: no frames"
    return None


def _sop_class_name(ds: Dataset) -> str:
    sop = ds.get("SOPClassUID")
    return f"{shown(sop.name)} ({shown(ds.get('Modality') or 'no modality')})" if sop else "DICOM dataset"


def frame_count(ds: Dataset) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an invalid NumberOfFrames means 1 frame; pydicom warns about it
        return get_nr_frames(ds, warn=False)


def open_dicom(path: Path, frame: int = 0) -> DisplayImage:
    # pydicom converts values when they are first used and warns then (an invalid UID, a bad VR): those warnings
    # join the image's notes instead of reaching stderr as stray lines.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = _open_dicom(path, frame)
    image.metadata["warnings"] = list(dict.fromkeys(image.metadata["warnings"] + warning_notes(caught)))
    return image


def _open_dicom(path: Path, frame: int) -> DisplayImage:
    ds, notes = read_dataset(path)
    reason = no_image_reason(ds)
    if reason:
        raise NoImageError(f"{path}: {reason}")
    frames = frame_count(ds)
    if not 0 <= frame < frames:
        raise StudyError(f"{path}: frame {frame} out of range: the file has {frames} frame(s) (0..{frames - 1})")
    syntax = ds.file_meta.TransferSyntaxUID
    _check_size(path, ds)
    _check_decodable(path, syntax)
    _check_length(path, ds, syntax)
    _check_codestream(path, ds, syntax, frame, frames)
    # Decode one frame from the file: only that frame of native data is read into memory. The syntax is
    # passed because files without file meta have none of their own.
    try:
        with BoundedFile(path) as f, native_stderr() as printed:
            # A deflated file holds its pixels inside the deflated stream: decode them from the (inflated) data set.
            src = ds if syntax == DeflatedExplicitVRLittleEndian else f
            stored = _decode(src, frame, syntax)
    except NOT_CAUGHT:
        raise
    except BaseException as exc:  # BaseException: a Rust decoder's panic on damaged data (see failures.NOT_CAUGHT)
        raise StudyError(f"{path}: cannot decode frame {frame} ({syntax_name(syntax)}): {describe(exc)}") from exc
    notes += [f"decoder: {line}" for line in printed]
    view = frame_view(ds, frame)
    if ds.get("SamplesPerPixel", 1) > 1 or ds.PhotometricInterpretation == "PALETTE COLOR":
        values, windows, invert = _colour(stored, view), [covering(0.0, 255.0)], False
    else:
        values = GreyValues(stored, lambda a: apply_modality_lut(a, view))
        windows = file_windows(view, notes) + lut_windows(view, notes) + [_auto(values, view)]
        invert = view.PhotometricInterpretation == "MONOCHROME1" or view.get("PresentationLUTShape") == "INVERSE"
    return DisplayImage(path=path, frame=frame, frames=frames, kind="dicom", values=values, windows=windows,
                        invert=invert, metadata=metadata(ds, notes), dataset=view)


def _decode(src, frame: int, syntax: UID) -> np.ndarray:
    """pixel_array of one frame, through the PLUGINS preferred for the syntax when one is installed."""
    available = get_decoder(syntax).available_plugins
    plugins = [name for name in PLUGINS.get(syntax, ()) if name in available]
    if not plugins:
        return pixel_array(src, index=frame, transfer_syntax_uid=syntax)
    failures = []
    for plugin in plugins:
        try:
            return pixel_array(src, index=frame, transfer_syntax_uid=syntax, decoding_plugin=plugin)
        except Exception as exc:  # noqa: BLE001 - the next plugin may manage; all failures are reported together
            message = " ".join(str(exc).split()).removeprefix(ALL_PLUGINS_FAILED)
            failures.append(message if message.startswith(f"{plugin}: ") else f"{plugin}: {describe(exc)}")
    raise RuntimeError("; ".join(failures))


def _check_size(path: Path, ds: Dataset) -> None:
    """Before any decoder allocates: a damaged header can declare 65535 x 65535 over a few bytes of data."""
    pixels = int(ds.Rows) * int(ds.Columns)
    if pixels > MAX_FRAME_PIXELS:
        raise StudyError(f"{path}: image too large: {ds.Rows} x {ds.Columns} = {pixels} pixels a frame "
                         f"(limit {MAX_FRAME_PIXELS})")


def _check_codestream(path: Path, ds: Dataset, syntax: UID, frame: int, frames: int) -> None:
    """A JPEG-family frame's decoder allocates what the codestream declares: refuse more than Rows x Columns."""
    if not syntax.is_compressed or syntax == RLELossless:
        return
    offsets = ds.get("ExtendedOffsetTable"), ds.get("ExtendedOffsetTableLengths")
    # The frame is read from the file, not through ds.PixelData: that would keep the whole value in the dataset.
    elem = ds.get_item(tag_for_keyword("PixelData"), keep_deferred=True)
    extended = offsets if all(o is not None for o in offsets) else None
    try:
        if elem.value is not None:
            data = get_frame(elem.value, frame, number_of_frames=frames, extended_offsets=extended)
        else:
            with BoundedFile(path) as f:
                f.seek(elem.value_tell)
                data = get_frame(f, frame, number_of_frames=frames, extended_offsets=extended)
    except Exception:  # noqa: BLE001 - a broken fragment table: the decoder reports it in its own words
        return
    declared = codestream_size(data)
    if declared and declared[1] * declared[2] > int(ds.Rows) * int(ds.Columns):
        kind, rows, columns = declared
        raise StudyError(f"{path}: frame {frame} is a {kind} codestream of {rows} x {columns} pixels, more than the "
                         f"{ds.Rows} x {ds.Columns} of its header")


def _check_decodable(path: Path, syntax: UID) -> None:
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise StudyError(f"{path}: unsupported transfer syntax {syntax_name(syntax)} ({shown(syntax)}): "
                         "no installed plugin can decode it")


def _check_length(path: Path, ds: Dataset, syntax: UID) -> None:
    """Native pixel data must hold rows x columns x samples x frames; encapsulated data is checked by its decoder."""
    if syntax.is_compressed:
        return
    # keep_deferred: the declared length and file offset of a deferred element, without reading its value.
    elem = ds.get_item(tag_for_keyword(next(k for k in PIXEL_TAGS if k in ds)), keep_deferred=True)
    if elem.value is None:
        have = min(elem.length, max(path.stat().st_size - elem.value_tell, 0))
    else:
        have = len(elem.value)
    expected = get_expected_length(ds)
    if have < expected:
        raise StudyError(f"{path}: pixel data truncated: {have} bytes, but rows x columns x frames needs {expected}")


def frame_view(ds: Dataset, frame: int) -> Dataset:
    """`ds` with the enhanced multi-frame functional groups of `frame` (rescale, window) lifted to the top level."""
    shared, per_frame = ds.get("SharedFunctionalGroupsSequence"), ds.get("PerFrameFunctionalGroupsSequence")
    # Per-frame values come last so they override shared ones.
    groups = ([shared[0]] if shared else []) + ([per_frame[frame]] if per_frame and frame < len(per_frame) else [])
    lifted = [item for g in groups for key in ("PixelValueTransformationSequence", "FrameVOILUTSequence")
              for item in (g.get(key) or [])[:1]]
    if not lifted:
        return ds
    view = ds.copy()
    for item in lifted:
        for elem in item:
            view[elem.tag] = elem
    return view


def _colour(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """RGB uint8 from RGB/YBR (pydicom already converted YBR to RGB) or PALETTE COLOR data."""
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        rgb = apply_color_lut(stored, ds)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    else:
        rgb, bits = stored, int(ds.BitsStored)
    if bits == 8:
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    return np.rint(rgb.astype(np.float64) * (255.0 / (2**bits - 1))).astype(np.uint8)


def file_windows(ds: Dataset, notes: list[str]) -> list[Window]:
    """Window Center/Width pairs in file order, with their explanations and the VOI LUT function."""
    centers, widths = _multi(ds.get("WindowCenter")), _multi(ds.get("WindowWidth"))
    explanations = _multi(ds.get("WindowCenterWidthExplanation"))
    function = str(ds.get("VOILUTFunction") or "LINEAR").upper()
    if function not in FUNCTIONS:
        notes.append(f"unknown VOI LUT function {function!r}: using LINEAR")
        function = "LINEAR"
    windows = []
    for i, (center, width) in enumerate(zip(centers, widths)):
        explanation = str(explanations[i]) if i < len(explanations) and explanations[i] else f"window {i + 1}"
        try:
            windows.append(Window(float(center), float(width), explanation, function))
        except (TypeError, ValueError) as exc:  # an empty or invalid value: skip that window, keep the rest
            notes.append(f"window {explanation!r} ignored: {exc}")
    return windows


def _multi(value) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, MultiValue) else [value]


def _auto(values: GreyValues, ds: Dataset) -> Window:
    """Automatic window over the modality values that are not pixel padding (padding is in stored values)."""
    padding = ds.get("PixelPaddingValue")
    if padding is None:
        return auto_window(values)
    limit = ds.get("PixelPaddingRangeLimit", padding)
    return auto_window(values, (min(padding, limit), max(padding, limit)))


def metadata(ds: Dataset, notes: list[str]) -> dict:
    syntax = ds.file_meta.TransferSyntaxUID
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    return {
        "patient": {"name": _text(ds.get("PatientName")), "id": _text(ds.get("PatientID")),
                    "sex": _text(ds.get("PatientSex")), "age": _text(ds.get("PatientAge"))},
        "study_date": _text(ds.get("StudyDate")),
        "study_description": _text(ds.get("StudyDescription")),
        "series_description": _text(ds.get("SeriesDescription")),
        "modality": _text(ds.get("Modality")),
        "view_position": _text(ds.get("ViewPosition")),
        "body_part": _text(ds.get("BodyPartExamined")),
        "institution": _text(ds.get("InstitutionName")),
        "rows": _int(ds.get("Rows")),
        "columns": _int(ds.get("Columns")),
        "frames": frame_count(ds) if no_image_reason(ds) is None else 0,
        "pixel_spacing": [float(v) for v in spacing] if spacing else None,
        "bits_allocated": _int(ds.get("BitsAllocated")),
        "bits_stored": _int(ds.get("BitsStored")),
        "photometric": _text(ds.get("PhotometricInterpretation")),
        "transfer_syntax": {"uid": str(syntax), "name": syntax_name(syntax)},
        "study_uid": _text(ds.get("StudyInstanceUID")),
        "series_uid": _text(ds.get("SeriesInstanceUID")),
        "sop_instance_uid": _text(ds.get("SOPInstanceUID")),
        "instance_number": _int(ds.get("InstanceNumber")),
        "series_number": _int(ds.get("SeriesNumber")),
        "warnings": list(notes),
    }


def _text(value) -> str | None:
    return None if value is None or str(value) == "" else str(value)


def _int(value) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None
