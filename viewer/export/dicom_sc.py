"""Exported images as DICOM Secondary Capture (highdicom), in the source's patient and study, in a new series."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
from highdicom.sc import SCImage
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import viewer
from viewer.errors import ExportError

from .anonymize import ANONYMOUS_NAME, AnonymizationSession, anonymize_dataset
from .atomic import atomic_write
from .dicom_common import (
    CHARACTER_SET,
    MANUFACTURER,
    ST_BYTES,
    built_by_highdicom,
    fit,
    set_laterality,
    unfit_for_highdicom,
    unfit_message,
)

DEFAULT_SERIES_NUMBER = 9901  # high, so the derived series sorts after the acquired ones in a PACS
# Attributes RadCAM writes itself (no patient data): a second anonymization pass of the SC must keep them.
_WRITTEN_BY_RADCAM = ("SeriesDescription", "DerivationDescription", "ImageComments")
_ORIENTATION_LETTERS = set("APRLHF")


def write_secondary_capture(path: str | os.PathLike, image: np.ndarray, source: Dataset | None, description: str,
                            series_number: int = DEFAULT_SERIES_NUMBER, instance_number: int = 1,
                            anonymize: bool = False, overwrite: bool = False,
                            session: AnonymizationSession | None = None) -> Dataset:
    """Write `image` (uint8 RGB or grey) as an SC instance derived from `source` and return the dataset.

    `source` None (a PNG/JPEG study) gives a new anonymous patient and study. `anonymize` de-identifies the
    patient and study (PS3.15 Annex E) with `session`'s consistent UID and pseudonym mapping.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ExportError(f"cannot write {path}: expected a uint8 grey or RGB image, got {image.dtype} {image.shape}")
    ref = anonymize_dataset(source, session) if source is not None and anonymize else source
    orientation = _orientation(ref)
    common: dict[str, Any] = dict(
        pixel_array=np.ascontiguousarray(image), photometric_interpretation="RGB" if image.ndim == 3 else "MONOCHROME2",
        bits_allocated=8, coordinate_system="PATIENT", series_instance_uid=generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=instance_number,
        manufacturer=MANUFACTURER, manufacturer_model_name=MANUFACTURER, software_versions=viewer.__version__,
        series_description=fit(description), patient_orientation=orientation or ("L", "F"),
        transfer_syntax_uid=ExplicitVRLittleEndian,
        specific_character_set=CHARACTER_SET,
    )
    unfit = unfit_for_highdicom(ref)
    if unfit:  # highdicom's ValueError quotes the value (a birth date): the words here never do
        raise ExportError(unfit_message(path, unfit, "Secondary Capture"))
    if ref is not None and not ref.get("StudyInstanceUID"):
        raise ExportError(f"cannot write {path}: the original has no Study Instance UID, and a Secondary Capture "
                          "joins the original's study (export it without DICOM)")
    sc: Dataset  # an SCImage, then (anonymised) a plain Dataset
    with warnings.catch_warnings(), built_by_highdicom(path, "Secondary Capture", anonymize):
        # highdicom warns about single-component person names; the source's name is what it is.
        warnings.simplefilter("ignore", UserWarning)
        if ref is not None:
            sc = SCImage.from_ref_dataset(ref, **common)
        else:
            sc = SCImage(study_instance_uid=generate_uid(), patient_name=ANONYMOUS_NAME if anonymize else "",
                         patient_id="", **common)
    if orientation is None:
        # highdicom annotates it as list[str]; DICOM lets a Type 2C attribute be empty
        sc.PatientOrientation = None  # type: ignore[assignment]  # Type 2C: unknown is empty, not a guess (highdicom insists on a value)
    sc.ConversionType = "WSD"  # workstation
    sc.BurnedInAnnotation = "YES"
    sc.DerivationDescription = fit(description, ST_BYTES)
    set_laterality(sc, ref)
    if ref is not None and "SOPClassUID" in ref and "SOPInstanceUID" in ref:
        item = Dataset()
        item.ReferencedSOPClassUID = ref.SOPClassUID
        item.ReferencedSOPInstanceUID = ref.SOPInstanceUID
        sc.SourceImageSequence = [item]
    if anonymize:
        # highdicom adds capture dates and copies equipment; run the profile over the whole result too.
        sc = anonymize_dataset(sc, session, keep=_WRITTEN_BY_RADCAM)
    atomic_write(path, lambda temporary: sc.save_as(temporary, enforce_file_format=True), overwrite)
    return sc


def _orientation(ds: Dataset | None) -> tuple[str, str] | None:
    """The source's Patient Orientation when highdicom can take it (one letter per axis), else None."""
    values = list(ds.get("PatientOrientation") or []) if ds is not None else []
    if len(values) == 2 and all(v in _ORIENTATION_LETTERS for v in values):
        return values[0], values[1]
    return None
