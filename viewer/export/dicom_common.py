"""What every DICOM object RadCAM writes (Secondary Capture, GSPS, Parametric Map) shares: values cut to their VR's
length in bytes, the laterality copied from the source, and the source attributes highdicom would refuse."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy

import numpy as np
from pydicom import Dataset, config
from pydicom.datadict import dictionary_description
from pydicom.dataelem import DataElement
from pydicom.valuerep import DA, TM, validate_value

from viewer.errors import ExportError

from .anonymize import anonymize_dataset
from .atomic import atomic_write

MANUFACTURER = "RadCAM"
CHARACTER_SET = "ISO_IR 192"  # UTF-8: captions use "·", and a source name may be in any script
LO_BYTES = 64  # LO, and so Series Description: 64 bytes, not characters ("·" is 2 bytes in UTF-8)
ST_BYTES = 1024


def fit(text: str, limit: int = LO_BYTES) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, never inside a character nor after a dangling separator."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore").rstrip(" |·:")


def laterality(ds: Dataset | None) -> str | None:
    """The source's Laterality (else its Image Laterality) when R or L; None when unknown or both."""
    if ds is None:
        return None
    for keyword in ("Laterality", "ImageLaterality"):
        value = str(ds.get(keyword) or "").strip().upper()
        if value in ("R", "L"):
            return value
    return None


def set_laterality(out: Dataset, source: Dataset | None) -> None:
    """General Series' Laterality (Type 2C): the source's, else present and empty. RadCAM never writes Body Part
    Examined, so the body part is unknown and dciodvfy wants the attribute there, empty when unknown."""
    out.Laterality = laterality(source)


def unfit_for_highdicom(ds: Dataset | None) -> list[str]:
    """The patient and study attributes highdicom copies and converts that it would refuse: a date or time that
    is not DA/TM (1961-07-04), a sex other than M, F, O (MALE); their names, never their values."""
    if ds is None:
        return []
    unfit = []
    for keyword, kind in (("PatientBirthDate", DA), ("StudyDate", DA), ("StudyTime", TM)):
        value = ds.get(keyword)
        if value:
            try:
                kind(value)
            except (ValueError, TypeError):
                unfit.append(dictionary_description(keyword))
    if ds.get("PatientSex") not in (None, "", "M", "F", "O"):
        unfit.append(dictionary_description("PatientSex"))
    return unfit


def unfit_message(path, unfit: list[str], what: str) -> str:
    verb = "is not a valid DICOM value" if len(unfit) == 1 else "are not valid DICOM values"
    return (f"cannot write {path}: the source's {' and '.join(unfit)} {verb}, which a {what} must copy "
            "(export it anonymised, or without DICOM)")


# Type 2 attributes highdicom reads from a referenced image as attributes (ref.PatientBirthDate): present, maybe empty.
_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyDate",
           "StudyTime", "ReferringPhysicianName")
_PIXELS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float and Double Float Pixel Data
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
_REFERENCED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def reference_header(source: Dataset, path, what: str) -> Dataset:
    """The source's header as a GSPS or Parametric Map references and copies it: no pixel data, no private tags,
    no value its VR forbids (a Patient's Age "81": copied, it would fail dciodvfy; the original keeps it), and the
    patient and study attributes highdicom reads always present."""
    missing = [dictionary_description(keyword) for keyword in _REFERENCED if not source.get(keyword)]
    if missing:
        raise ExportError(f"cannot write {path}: a {what} references its original, which has no "
                          f"{' and no '.join(missing)}")
    header = Dataset()
    for elem in source:
        if elem.tag in _PIXELS or elem.tag.is_private:
            continue
        if elem.VR in _TEXT_VRS and not elem.is_empty:
            try:
                for value in elem.value if elem.VM > 1 else [elem.value]:
                    validate_value(elem.VR, str(value), config.RAISE)
            except (ValueError, TypeError):
                continue
        header.add(deepcopy(elem))
    for keyword, kind in (("PatientBirthDate", DA), ("StudyDate", DA), ("StudyTime", TM)):
        try:  # highdicom converts these: 1961-07-04 passes DA's VR check, not its parser
            kind(header.get(keyword) or None)
        except (ValueError, TypeError):
            del header[keyword]
    if header.get("PatientSex") not in (None, "", "M", "F", "O"):
        header.PatientSex = None  # highdicom takes only M, F, O
    for keyword in _COPIED:
        if keyword not in header:
            setattr(header, keyword, None)
    header.SpecificCharacterSet = CHARACTER_SET  # values are decoded now; RadCAM's text needs UTF-8
    if header.get("PatientIdentityRemoved") == "YES" and not (
            header.get("DeidentificationMethod") or header.get("DeidentificationMethodCodeSequence")):
        header.DeidentificationMethod = "not stated in the original"  # Type 1C once identity is said removed
    frames = str(header.get("NumberOfFrames", "")).strip()
    if "NumberOfFrames" in header and "SharedFunctionalGroupsSequence" not in header and not (
            frames.isdigit() and int(frames) > 1):
        del header.NumberOfFrames  # 1, empty or garbled: highdicom takes any for an enhanced multi-frame image
    for item in header.get("VOILUTSequence") or []:
        if isinstance(item.get("LUTData"), list):  # read as US values; highdicom's VOILUT takes OW bytes
            item["LUTData"] = DataElement(0x00283006, "OW", np.asarray(item.LUTData, "<u2").tobytes())
    return header


@contextmanager
def built_by_highdicom(path, what: str, anonymize: bool) -> Iterator[None]:
    """highdicom's refusal of an odd original (a Segmentation as source, a malformed LUT) as one ExportError line;
    its words, which may quote a header value, only when not anonymising."""
    try:
        yield
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        said = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        why = "" if anonymize else f": {said}"
        if "SharedFunctionalGroupsSequence" in said:  # an RT Dose, NM or US frame, say: a multi-frame kind of image
            why = ": its kind of image holds frames, which highdicom reads only from enhanced functional groups"
        raise ExportError(f"cannot write {path}: highdicom cannot build a {what} from this original{why}") from None


def save_object(built: Dataset, ref: Dataset, path, *, anonymize: bool, session, keep: Sequence[str],
                type1: Callable[[Dataset], None], overwrite: bool) -> Dataset:
    """A highdicom object as a plain data set with the original's laterality, saved atomically; anonymised, the
    profile runs over the result too (highdicom adds its own dates and equipment), keeping RadCAM's own words
    (`keep`), and `type1` puts back the dummies its IOD cannot do without."""
    out = Dataset(built)
    out.file_meta = built.file_meta
    set_laterality(out, ref)
    if anonymize:
        out = anonymize_dataset(out, session, keep=keep)
        type1(out)
    atomic_write(path, lambda temporary: out.save_as(temporary, enforce_file_format=True), overwrite)
    return out
