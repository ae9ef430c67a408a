"""What a DICOM header says before and around the pixels: is there an image, are the attributes that describe its
pixels present and whole numbers, which windows and Modality LUT apply to a frame, and the metadata `info` shows."""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from pydicom import Dataset
from pydicom.datadict import dictionary_description, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut
from pydicom.pixels.utils import get_nr_frames
from pydicom.uid import UID

from .failures import describe, one_line
from .image import GreyValues
from .windows import FUNCTIONS, Window, auto_window

PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# pydicom 3.0 does not know these yet; naming them makes "unsupported transfer syntax" readable.
SYNTAX_NAMES = {
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
}
# Image Pixel module attributes (PS3.3 C.7.6.3) every decoder needs; Bits Stored and Pixel Representation only for
# integer pixel data.
REQUIRED = ("SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated")
REQUIRED_INTEGER = ("BitsStored", "PixelRepresentation")
WHOLE_NUMBERS = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "PixelRepresentation",
                 "NumberOfFrames", "PlanarConfiguration")


def syntax_name(uid: UID) -> str:
    """The transfer syntax's name; for a UID pydicom does not know, "unknown" (callers print the UID beside it)."""
    return SYNTAX_NAMES.get(str(uid)) or (uid.name if uid.is_transfer_syntax else "unknown")


def tag_of(keyword: str) -> int:
    """The tag of a keyword RadCAM names in its code (pydicom's lookup returns None for an unknown one)."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"not a DICOM keyword: {keyword}")
    return tag


def shown(value: object, limit: int = 64) -> str:
    """Text from the file as it may appear in a one-line message: a damaged value can hold newlines, control bytes
    and the rest of the header."""
    text = one_line(str(value))
    return text if len(text) <= limit else f"{text[:limit]}..."


def attribute(keyword: str) -> str:
    """'Samples per Pixel (0028,0002)': how a message names an attribute."""
    tag = tag_of(keyword)
    return f"{dictionary_description(tag)} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def no_image_reason(ds: Dataset) -> str | None:
    """Why this dataset has nothing to display, or None when it has pixel data."""
    what = _sop_class_name(ds)
    if not any(tag in ds for tag in PIXEL_TAGS):
        return f"{what}: no pixel data"
    if not _int(ds.get("Rows")) or not _int(ds.get("Columns")):
        return f"{what}: pixel data without rows/columns"
    if _int(ds.get("NumberOfFrames")) == 0:
        return f"{what}: no frames"
    return None


def pixel_module_problem(ds: Dataset) -> str | None:
    """What stops the pixels from being read, in words (an attribute missing or not a number), or None."""
    needed = REQUIRED + (REQUIRED_INTEGER if "PixelData" in ds else ())
    missing = [attribute(k) for k in needed if ds.get(k) is None or ds.get(k) == ""]
    if missing:
        return f"the image pixel module lacks {', '.join(missing)}, needed to read the pixels"
    for keyword in WHOLE_NUMBERS:
        value = ds.get(keyword)
        if value is not None and value != "" and _whole(value) is None:
            return f"{attribute(keyword)} is {shown(value)!r}, not a whole number"
    if (_whole(ds.get("NumberOfFrames")) or 1) < 0:  # 0 is no_image_reason's "no frames"
        return f"{attribute('NumberOfFrames')} is {shown(ds.NumberOfFrames)!r}, not a whole number of at least 1"
    return None


def _whole(value: Any) -> int | None:
    """`value` as an int when it is a whole number; None for text, several values, or a fraction such as IS '2.5'
    (which pydicom reads, and int() would cut to 2)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _sop_class_name(ds: Dataset) -> str:
    sop = ds.get("SOPClassUID")
    return f"{shown(sop.name)} ({shown(ds.get('Modality') or 'no modality')})" if sop else "DICOM dataset"


def frame_count(ds: Dataset) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an invalid NumberOfFrames means 1 frame; pydicom warns about it
        frames = get_nr_frames(ds, warn=False)
    return frames if isinstance(frames, int) else _whole(frames) or 1  # IS '1A' comes back as text


def detached(ds: Dataset) -> Dataset:
    """A shallow copy of `ds` whose elements can be replaced or deleted without touching `ds`. pydicom 3's
    Dataset.copy() shares the element dict with the original, so `del copy.X` deletes `ds.X` too."""
    view = copy.copy(ds)  # keeps file_meta and the original encoding, which pydicom's LUT functions read
    view._dict = dict(ds._dict)  # noqa: SLF001 - the one attribute copy.copy leaves shared
    return view


def frame_view(ds: Dataset, frame: int) -> Dataset:
    """`ds` with the enhanced multi-frame functional groups of `frame` (rescale, window) lifted to the top level."""
    shared, per_frame = ds.get("SharedFunctionalGroupsSequence"), ds.get("PerFrameFunctionalGroupsSequence")
    # Per-frame values come last so they override shared ones.
    groups = ([shared[0]] if shared else []) + ([per_frame[frame]] if per_frame and frame < len(per_frame) else [])
    lifted = [item for g in groups for key in ("PixelValueTransformationSequence", "FrameVOILUTSequence")
              for item in (g.get(key) or [])[:1]]
    if not lifted:
        return ds
    view = detached(ds)
    for item in lifted:
        for elem in item:
            view[elem.tag] = elem
    return view


def checked_modality_lut(ds: Dataset, notes: list[str]) -> Dataset:
    """`ds`, or a copy without its Modality LUT Sequence when that is damaged (an empty item, no LUT data): pydicom
    then applies Rescale Slope/Intercept, or nothing. Said in `notes`, as a damaged VOI LUT is."""
    if not ds.get("ModalityLUTSequence"):
        return ds
    problem = _modality_lut_problem(ds.ModalityLUTSequence[0])
    if problem is None:
        try:
            entries, first_map = (int(v) for v in ds.ModalityLUTSequence[0].LUTDescriptor[:2])
            # Both ends of the LUT's input range through pydicom: whatever else it checks.
            apply_modality_lut(np.array([first_map, first_map + (entries or 2**16) - 1], np.int64), ds)
            return ds
        except Exception as exc:  # noqa: BLE001 - any damage: the image still shows, with the fallback named
            problem = describe(exc)
    view = detached(ds)
    del view.ModalityLUTSequence
    fallback = "rescale slope/intercept" if "RescaleSlope" in view and "RescaleIntercept" in view else "identity"
    notes.append(f"Modality LUT ignored ({problem}): using {fallback}")
    return view


def _modality_lut_problem(item: Dataset) -> str | None:
    """What is wrong with a Modality LUT Sequence item, in words (PS3.3 C.11.1.1.1), or None."""
    descriptor, data = item.get("LUTDescriptor"), item.get("LUTData")
    if descriptor is None or descriptor == "":
        return f"no {attribute('LUTDescriptor')}"
    values = [_int(v) for v in (descriptor if isinstance(descriptor, (MultiValue, list, tuple)) else [descriptor])]
    if len(values) != 3 or None in values:
        return f"{attribute('LUTDescriptor')} is {shown(descriptor)!r}, not three numbers"
    entries, bits = values[0] or 2**16, values[2]
    if bits not in (8, 16):
        return f"{attribute('LUTDescriptor')} gives {bits} bits an entry, not 8 or 16"
    if data is None or len(data) == 0:
        return f"no {attribute('LUTData')}"
    held = len(data) // 2 if isinstance(data, bytes) else len(data) if isinstance(data, (MultiValue, list)) else 1
    if held < entries:
        return f"{attribute('LUTData')} holds {held} entries, but its descriptor declares {entries}"
    return None


def checked_rescale(ds: Dataset, notes: list[str]) -> Dataset:
    """`ds`, or a copy in which a Rescale Slope or Intercept that is empty, not a number or not finite (or a slope of 0)
    is its identity value (1, 0), said in `notes`. pydicom multiplies by what it finds: an empty or text value fails
    with Python's words, a NaN or infinite one makes every pixel NaN or infinite, a slope of 0 makes every pixel the
    intercept (a black, white or flat image without a word)."""
    if ds.get("ModalityLUTSequence") or "RescaleSlope" not in ds or "RescaleIntercept" not in ds:
        return ds  # pydicom applies no rescale then
    view = ds
    for keyword, identity in (("RescaleSlope", 1), ("RescaleIntercept", 0)):
        value = ds.get(keyword)
        try:
            number = float(value)
            if math.isfinite(number) and (number != 0 or keyword == "RescaleIntercept"):
                continue
            problem = f"is {shown(value)!r}, " + ("not a finite number" if number else "which makes every pixel alike")
        except (TypeError, ValueError):  # None (empty), text, or several values
            problem = "is empty" if value is None or value == "" else f"is {shown(value)!r}, not a finite number"
        notes.append(f"{attribute(keyword)} {problem}: using {identity}")
        view = detached(ds) if view is ds else view
        tag = tag_of(keyword)
        view[tag] = DataElement(tag, "DS", identity)
    return view


def file_windows(ds: Dataset, notes: list[str]) -> list[Window]:
    """Window Center/Width pairs in file order, with their explanations and the VOI LUT function."""
    centers, widths = _multi(ds.get("WindowCenter")), _multi(ds.get("WindowWidth"))
    explanations = _multi(ds.get("WindowCenterWidthExplanation"))
    named = str(ds.get("VOILUTFunction") or "LINEAR").upper()
    function = next((known for known in FUNCTIONS if known == named), None)
    if function is None:
        notes.append(f"unknown VOI LUT function {named!r}: using LINEAR")
        function = "LINEAR"
    windows = []
    for i, (center, width) in enumerate(zip(centers, widths, strict=False)):  # a damaged file: pairs only
        explanation = str(explanations[i]) if i < len(explanations) and explanations[i] else f"window {i + 1}"
        try:
            windows.append(Window(float(center), float(width), explanation, function))
        except (TypeError, ValueError) as exc:  # empty, invalid, NaN or infinite: skip that window, keep the rest
            notes.append(f"window {explanation!r} ignored: {exc}")
    return windows


def _multi(value: object) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, MultiValue) else [value]


def auto(values: GreyValues, ds: Dataset) -> Callable[[], Window]:
    """Automatic window over the modality values that are not pixel padding (padding is in stored values), made
    when called: the header is read now (its warnings are the file's notes), the pixels' histogram then."""
    padding = ds.get("PixelPaddingValue")
    if padding is None:
        return functools.partial(auto_window, values)
    limit = ds.get("PixelPaddingRangeLimit", padding)
    return functools.partial(auto_window, values, (min(padding, limit), max(padding, limit)))


def metadata(ds: Dataset, notes: list[str]) -> dict[str, Any]:
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
        "pixel_spacing": _spacing(spacing),
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


def _spacing(value: Any) -> list[float] | None:
    """Pixel spacing in mm; None when absent or not finite numbers (info prints strict JSON: no NaN)."""
    try:
        spacing = [float(v) for v in (value if isinstance(value, MultiValue) else [value])] if value else None
    except (TypeError, ValueError):
        return None
    return spacing if spacing and all(np.isfinite(spacing)) else None


def _text(value: object) -> str | None:
    return None if value is None or str(value) == "" else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None
