"""DICOM files: read the header, tell whether there is an image, and turn one frame into a DisplayImage."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder, pixel_array
from pydicom.pixels.utils import get_expected_length, get_nr_frames
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ..errors import NoImageError, StudyError
from .failures import describe
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
# Old ACR-NEMA style files start straight with an element of one of these groups (little endian).
HEADERLESS_FIRST_GROUPS = (0x0000, 0x0002, 0x0008)


def syntax_name(uid: UID) -> str:
    return SYNTAX_NAMES.get(str(uid)) or (uid.name if uid.is_transfer_syntax else f"unknown ({uid})")


def read_dataset(path: Path) -> tuple[Dataset, list[str]]:
    """Header of a DICOM file (large values deferred) and warnings for the user.

    Raises InvalidDicomError when the file is not DICOM at all.
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = dcmread(path, defer_size=DEFER_SIZE)
        except InvalidDicomError:
            if not _looks_headerless(path):
                raise
            ds = dcmread(path, defer_size=DEFER_SIZE, force=True)
    if not ds.file_meta.get("TransferSyntaxUID"):
        implicit, little = ds.original_encoding
        syntax = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        ds.file_meta.TransferSyntaxUID = syntax
        notes.append(f"no file meta / preamble: read as {ENCODING_NAMES[syntax]}")
    notes += _messages(caught)
    return ds, notes


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
    return f"{sop.name} ({ds.get('Modality') or 'no modality'})" if sop else "DICOM dataset"


def frame_count(ds: Dataset) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an invalid NumberOfFrames means 1 frame; pydicom warns about it
        return get_nr_frames(ds, warn=False)


def open_dicom(path: Path, frame: int = 0) -> DisplayImage:
    ds, notes = read_dataset(path)
    reason = no_image_reason(ds)
    if reason:
        raise NoImageError(f"{path}: {reason}")
    frames = frame_count(ds)
    if not 0 <= frame < frames:
        raise StudyError(f"{path}: frame {frame} out of range: the file has {frames} frame(s) (0..{frames - 1})")
    syntax = ds.file_meta.TransferSyntaxUID
    _check_decodable(path, syntax)
    _check_length(path, ds, syntax)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Decode one frame from the path: only that frame of native data is read into memory. The syntax is
        # passed because files without file meta have none of their own.
        try:
            stored = pixel_array(path, index=frame, transfer_syntax_uid=syntax)
        except Exception as exc:
            raise StudyError(f"{path}: cannot decode frame {frame} ({syntax_name(syntax)}): {describe(exc)}") from exc
        view = frame_view(ds, frame)
        if ds.get("SamplesPerPixel", 1) > 1 or ds.PhotometricInterpretation == "PALETTE COLOR":
            values, windows, invert = _colour(stored, view), [covering(0.0, 255.0)], False
        else:
            values = GreyValues(stored, lambda a: apply_modality_lut(a, view))
            windows = file_windows(view, notes) + lut_windows(view) + [_auto(values, view)]
            invert = view.PhotometricInterpretation == "MONOCHROME1" or view.get("PresentationLUTShape") == "INVERSE"
    notes += _messages(caught)
    return DisplayImage(path=path, frame=frame, frames=frames, kind="dicom", values=values, windows=windows,
                        invert=invert, metadata=metadata(ds, notes), dataset=view)


def _check_decodable(path: Path, syntax: UID) -> None:
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise StudyError(f"{path}: unsupported transfer syntax {syntax_name(syntax)} ({syntax}): "
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


def _messages(caught: list[warnings.WarningMessage]) -> list[str]:
    """pydicom's warnings about the file (user warnings only), each once and on one line."""
    return list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught if issubclass(w.category, UserWarning)))
