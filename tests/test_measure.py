"""Rulers and the cardiothoracic ratio in mm (viewer.app.measure), on files with known spacing."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from conftest import write_dicom

from viewer.app.measure import Measurement, horizontal, length, spacing
from viewer.io import open_image

FIXTURES = "/work/shared/fixtures/dicom"


def _dataset(tmp_path, **attributes):
    return open_image(write_dicom(tmp_path / "m.dcm", np.zeros((200, 300), np.uint16), **attributes)).dataset


def test_ruler_in_mm_from_pixel_spacing(tmp_path):
    # Rows 0.5 mm apart, columns 0.25 mm: 100 columns across is 25 mm, 100 rows down is 50 mm.
    grid = spacing(_dataset(tmp_path, PixelSpacing=[0.5, 0.25]))
    assert grid is not None and grid.source == "PixelSpacing"
    assert length((10, 20, 110, 20), grid) == pytest.approx(25.0)
    assert length((10, 20, 10, 120), grid) == pytest.approx(50.0)
    assert length((0, 0, 30, 40), grid) == pytest.approx(np.hypot(7.5, 20.0))
    assert Measurement("ruler", ((10, 20, 110, 20),)).labels(grid) == ["25.0 mm"]


def test_imager_pixel_spacing_when_pixel_spacing_is_missing_or_zero(tmp_path):
    grid = spacing(_dataset(tmp_path, ImagerPixelSpacing=[0.2, 0.2], PixelSpacing=[0, 0]))
    assert grid is not None and grid.source == "ImagerPixelSpacing"
    assert Measurement("ruler", ((0, 0, 100, 0),)).labels(grid) == ["20.0 mm (at detector)"]


@pytest.mark.parametrize("attributes", [{}, {"PixelSpacing": [0, 0]}, {"ImagerPixelSpacing": [0.0, 0.1]}])
def test_uncalibrated_without_a_usable_spacing(tmp_path, attributes):
    grid = spacing(_dataset(tmp_path, **attributes))
    assert grid is None
    assert Measurement("ruler", ((0, 0, 30, 40),)).labels(grid) == ["50 px (uncalibrated)"]


def test_the_fixtures_spacing():
    # The NIH DX fixture carries no spacing at all; the CR plate says 0: both are uncalibrated.
    nih = pydicom.dcmread(f"{FIXTURES}/dx_chest_nih_uncompressed.dcm", stop_before_pixels=True)
    assert spacing(nih) is None
    assert spacing(pydicom.dcmread(f"{FIXTURES}/cr_chest_mono1_j2k.dcm", stop_before_pixels=True)) is None
    siim = spacing(pydicom.dcmread(f"{FIXTURES}/cr_chest_siim_jpeg_baseline.dcm", stop_before_pixels=True))
    assert siim is not None and siim.column_mm == pytest.approx(0.168)
    assert length((0, 512, 1000, 512), siim) == pytest.approx(168.0)


def test_cardiothoracic_ratio(tmp_path):
    grid = spacing(_dataset(tmp_path, PixelSpacing=[0.2, 0.2]))
    cardiac = horizontal(400, 300, 150)  # drawn right to left: still a positive width
    assert cardiac == (150, 300, 400, 300)
    half = Measurement("ctr", (cardiac,))
    assert not half.complete() and half.ratio() is None
    ctr = Measurement("ctr", (cardiac, horizontal(50, 280, 550)))
    assert ctr.ratio() == pytest.approx(0.5)
    assert ctr.labels(grid) == ["Cardiac 50.0 mm", "Thoracic 100.0 mm  CTR 0.50"]
    assert ctr.labels(None)[-1] == "Thoracic 500 px (uncalibrated)  CTR 0.50"  # a ratio needs no spacing


def _read(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def _export(tmp_path, orientation, measurements):
    from viewer.app.export_view import panel_view
    from viewer.cam.base import CamResult, Target
    from viewer.export import write_explanation
    from viewer.export.explanation import OverlayStyle

    image = open_image(write_dicom(tmp_path / "e.dcm", np.full((200, 300), 60, np.uint8), PixelSpacing=[0.5, 0.5]))
    cam = np.zeros((200, 300), np.float32)
    cam[:50, :80] = 1.0  # the map's hot corner: top left in the file's grid
    result = CamResult(cam, cam, [{"index": 0, "name": "finding", "score": 0.9}], Target(0, "finding"), "conv",
                       "gradcam", "cpu", {})
    view = panel_view(image, orientation, measurements)
    return write_explanation(tmp_path, "e", image, image.render(), result, "test model", OverlayStyle(),
                             panels=("original", "heatmap"), captioned=(), cam_array=True, sidecar=False, view=view)


def test_exports_are_turned_as_on_screen_and_carry_the_measurements(tmp_path):
    from viewer.app.orientation import Orientation
    from viewer.render.annotate import COLOUR

    ruler = Measurement("ruler", ((20, 150, 220, 150),))  # 100 mm at 0.5 mm a pixel
    original, heatmap, cam = _export(tmp_path, Orientation().rotated(), (ruler,))
    shown = _read(original)
    assert shown.shape[:2] == (300, 200)  # turned a quarter: 300 rows, 200 columns
    # The ruler across row 150 of the file is down column 200 - 150 = 50 on the clockwise-turned image.
    column = shown[40:200, 50]
    assert (np.abs(column.astype(int) - COLOUR).sum(axis=1) < 60).sum() > 100
    assert (np.load(cam) == 0).sum() > 0 and np.load(cam).shape == (200, 300)  # the array stays in the file's grid
    assert np.load(cam)[:50, :80].min() == 1.0
    map_panel = _read(heatmap)  # the hot corner turned to the top right
    assert map_panel.shape[0] >= 300  # with the caption bar below
    assert abs(int(map_panel[10, 190].sum()) - int(map_panel[10, 10].sum())) > 100


def test_an_unturned_unmeasured_export_is_untouched(tmp_path):
    from viewer.app.export_view import panel_view
    from viewer.app.orientation import Orientation

    image = open_image(write_dicom(tmp_path / "u.dcm", np.zeros((20, 30), np.uint8)))
    assert panel_view(image, Orientation(), ()) is None
