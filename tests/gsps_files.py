"""Presentation states for the GSPS read-back tests (test_presentation.py, test_ui_presentation.py): an image wider
than tall (a transposed overlay cannot pass), one GSPS written by RadCAM's own writer and one built by hand with
highdicom's API the way another vendor's might be (layers with colours, every graphic type, DISPLAY units, a displayed
area smaller than the image, a text box)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import write_dicom
from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid

ROWS, COLUMNS = 64, 96
# A rectangle outline in the image's pixel grid (x, y): its top edge at y = 20 from x = 10 to 50.
RECTANGLE = np.array([[10.0, 20.0], [50.0, 20.0], [50.0, 40.0], [10.0, 40.0]])
WINDOW = (300.0, 200.0)


def write_image(folder: Path, name: str = "image.dcm", value: int = 400) -> Path:
    """A flat 96 x 64 MONOCHROME2 image whose default window differs from WINDOW."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.full((ROWS, COLUMNS), value, dtype=np.uint16)
    return write_dicom(folder / name, pixels, bits_stored=12, WindowCenter=2048, WindowWidth=4096,
                       Modality="DX", SOPClassUID="1.2.840.10008.5.1.4.1.1.1.1", PatientBirthDate="",
                       PatientSex="", AccessionNumber="", ReferringPhysicianName="")


def radcam_gsps(image: Path, out: Path, window: tuple[float, float] | None = WINDOW) -> Dataset:
    """RadCAM's own writer (viewer.export.gsps): one finding outlined by RECTANGLE, its caption, the window."""
    from viewer.export.gsps import GspsFinding, write_gsps

    finding = GspsFinding("nodule", 0.968, "gradcam", "demo", [RECTANGLE], not_for_diagnosis=True)
    return write_gsps(out, dcmread(image), [finding], window, description="RadCAM test")


def vendor_gsps(image: Path, out: Path) -> Dataset:
    """A GSPS made with highdicom's API directly: a red MEASURE layer (CIRCLE, POINT in PIXEL units; an ELLIPSE and
    an INTERPOLATED curve in DISPLAY units), a NOTES layer with a text box in DISPLAY units and an anchored text,
    a displayed area of the image's right half, and a window."""
    from highdicom.color import CIELabColor
    from highdicom.pr import (
        GraphicAnnotation,
        GraphicLayer,
        GraphicObject,
        GrayscaleSoftcopyPresentationState,
        SoftcopyVOILUTTransformation,
        TextObject,
    )

    source = dcmread(image)
    measure = GraphicLayer("MEASURE", 1, "measurements", display_color=CIELabColor(53.24, 80.09, 67.20))  # red
    notes = GraphicLayer("NOTES", 2, "notes")
    shapes = [
        GraphicObject("CIRCLE", np.array([[70.0, 30.0], [80.0, 30.0]]), "PIXEL"),
        GraphicObject("POINT", np.array([[5.0, 5.0]]), "PIXEL"),
        # DISPLAY units: fractions of the displayed area (set below to columns 49..96, every row)
        GraphicObject("ELLIPSE", np.array([[0.25, 0.5], [0.75, 0.5], [0.5, 0.25], [0.5, 0.75]]), "DISPLAY"),
        GraphicObject("INTERPOLATED", np.array([[0.1, 0.9], [0.5, 0.8], [0.9, 0.9]]), "DISPLAY"),
    ]
    texts = [TextObject("vendor note", "DISPLAY", bounding_box=(0.5, 0.0, 1.0, 0.1)),
             TextObject("anchored", "PIXEL", anchor_point=(2.0, 62.0))]
    gsps = GrayscaleSoftcopyPresentationState(
        [source], series_instance_uid=generate_uid(), series_number=77, sop_instance_uid=generate_uid(),
        instance_number=1, manufacturer="Another Vendor", manufacturer_model_name="Workstation",
        software_versions="1.0", device_serial_number="42", content_label="VENDOR",
        graphic_layers=[measure, notes],
        graphic_annotations=[GraphicAnnotation([source], measure, graphic_objects=shapes),
                             GraphicAnnotation([source], notes, text_objects=texts)],
        voi_lut_transformations=[SoftcopyVOILUTTransformation(window_center=500.0, window_width=100.0)])
    ds = Dataset(gsps)
    ds.file_meta = gsps.file_meta
    area = ds.DisplayedAreaSelectionSequence[0]
    area.DisplayedAreaTopLeftHandCorner = [49, 1]  # the right half: DISPLAY x 0..1 is pixel x 48..96
    ds.save_as(out, enforce_file_format=True)
    return ds
