"""The CAM as a DICOM Parametric Map (highdicom): float values at the original's resolution with a real-world value
mapping, for research pipelines that want the numbers, not a picture.

The Parametric Map IOD requires a Frame of Reference and plane geometry, which a projection radiograph does not
have. When the original has none, the map gets its own Frame of Reference in which pixel (column i, row j) lies at
(i x spacing, j x spacing, 0) with the original's pixel spacing (1 mm when it gives none); the original itself is
not changed, and the Derivation Image Sequence says spatial locations are preserved: pixel (i, j) of the map is
pixel (i, j) of the original.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from pydicom import Dataset
from pydicom.uid import generate_uid

import viewer
from viewer.errors import ExportError

from .anonymize import DUMMIES, AnonymizationSession, anonymize_dataset
from .dicom_common import CHARACTER_SET, MANUFACTURER, built_by_highdicom, fit, reference_header, save_object

SERIES_NUMBER = 9903  # after the Secondary Captures (9901) and the presentation states (9902)
LUT_LABEL = "CAM"
_WRITTEN_BY_RADCAM = ("SeriesDescription", "ContentDescription", "ContentLabel", "LUTExplanation", "LUTLabel")


def write_parametric_map(path: str | os.PathLike, source: Dataset, cam: np.ndarray, *, label: str, method: str,
                         model: str, anonymize: bool = False, overwrite: bool = False,
                         session: AnonymizationSession | None = None) -> Dataset:
    """Write `cam` (float, Rows x Columns of `source`) as a Parametric Map derived from `source`; return it."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    cam = np.asarray(cam)
    ref = reference_header(source, path, "Parametric Map")
    shape = (int(ref.get("Rows") or 0), int(ref.get("Columns") or 0))
    if cam.ndim != 2 or cam.shape != shape or not np.issubdtype(cam.dtype, np.floating):
        raise ExportError(f"cannot write {path}: the CAM must be float values at the original's resolution "
                          f"{shape[0]}x{shape[1]}, not {cam.dtype} {'x'.join(map(str, cam.shape))}")
    if not np.isfinite(cam).all():
        raise ExportError(f"cannot write {path}: the CAM holds values that are not finite numbers")
    if int(ref.get("NumberOfFrames") or 1) > 1:
        raise ExportError(f"cannot write {path}: a Parametric Map of one CAM needs a single-frame original")
    if anonymize:
        ref = anonymize_dataset(ref, session)
    values = np.ascontiguousarray(cam, dtype=np.float32)
    low, high = min(0.0, float(values.min())), max(1.0, float(values.max()))
    explanation = fit(f"{method} CAM of {label}, model {model}")
    mapping = hd.pm.RealWorldValueMapping(lut_label=LUT_LABEL, lut_explanation=explanation,
                                          unit=codes.UCUM.NoUnits, value_range=(low, high), slope=1.0,
                                          intercept=0.0)
    _give_geometry(ref)
    with warnings.catch_warnings(), built_by_highdicom(path, "Parametric Map", anonymize):
        warnings.simplefilter("ignore", UserWarning)  # single-component person names: the source's are what they are
        pm = hd.pm.ParametricMap(
            [ref], values, series_instance_uid=generate_uid(), series_number=SERIES_NUMBER,
            sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
            manufacturer_model_name=MANUFACTURER, software_versions=viewer.__version__,
            device_serial_number=viewer.__version__,
            contains_recognizable_visual_features=False, real_world_value_mappings=[mapping],
            voi_lut_transformations=[hd.VOILUTTransformation(window_center=(low + high) / 2,
                                                             window_width=max(high - low, 1e-6))],
            content_label=LUT_LABEL, content_description=explanation, series_description=explanation,
            specific_character_set=CHARACTER_SET)
    return save_object(pm, ref, path, anonymize=anonymize, session=session, keep=_WRITTEN_BY_RADCAM,
                       type1=_dummy_dates, overwrite=overwrite)


def _dummy_dates(out: Dataset) -> None:
    # Type 1 in this IOD: the profile's Z/D allows a dummy date; the serial number is RadCAM's, not the patient's
    out.ContentDate, out.ContentTime = DUMMIES["DA"], DUMMIES["TM"]
    out.DeviceSerialNumber = viewer.__version__


def _give_geometry(ref: Dataset) -> None:
    """Give `ref` (RadCAM's copy of the original's header) a plane geometry of its own when it has none (or one
    dciodvfy rejects: a Frame of Reference UID equal to the Study's)."""
    if ref.get("FrameOfReferenceUID") == ref.get("StudyInstanceUID"):
        del ref.FrameOfReferenceUID
    if "SliceThickness" not in ref or not ref.SliceThickness:
        ref.SliceThickness = 1.0  # highdicom reads it for the pixel measures; a projection has no slice
    if "FrameOfReferenceUID" in ref and "ImageOrientationPatient" in ref and "ImagePositionPatient" in ref:
        return
    spacing = [float(v) for v in ref.get("PixelSpacing") or ref.get("ImagerPixelSpacing") or [1.0, 1.0]]
    ref.FrameOfReferenceUID = generate_uid()
    ref.PositionReferenceIndicator = None  # Type 2: no anatomical origin
    ref.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ref.ImagePositionPatient = [0, 0, 0]
    ref.PixelSpacing = spacing if len(spacing) == 2 and min(spacing) > 0 else [1.0, 1.0]
