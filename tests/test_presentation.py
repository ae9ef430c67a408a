"""A GSPS read back (viewer.io.presentation): references, graphics in the image's pixel grid (PIXEL as written,
DISPLAY scaled to the displayed area), text, layers, the window; the loader attaching it to its image; a damaged
one is a warning, never a crash; `radcam-cli info` names it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, needs_fixtures, run_cli
from gsps_files import COLUMNS, RECTANGLE, ROWS, WINDOW, radcam_gsps, vendor_gsps, write_image
from pydicom import dcmread
from pydicom.multival import MultiValue

from viewer.errors import StudyError
from viewer.io import load
from viewer.io.presentation import lab_to_rgb, presentations_beside, read_presentation


@pytest.fixture
def study(tmp_path):
    image = write_image(tmp_path / "study")
    return image, dcmread(image).SOPInstanceUID


def test_radcam_gsps_reads_back_in_the_images_pixel_grid(study, tmp_path):
    image, uid = study
    path = tmp_path / "study" / "image_gsps.dcm"
    radcam_gsps(image, path)
    state = read_presentation(path)
    assert state.references == {uid: ()}
    assert state.applies_to(uid) and not state.applies_to("1.2.3")
    assert state.notes == [] and state.warning() is None
    drawing = state.drawing(uid, 0, (COLUMNS, ROWS))
    (outline,) = drawing.shapes
    assert outline.kind == "POLYLINE"
    # closed by repeating the first point; exactly the coordinates written, neither transposed nor flipped
    np.testing.assert_allclose(outline.points, np.vstack([RECTANGLE, RECTANGLE[:1]]))
    (caption,) = drawing.labels
    assert caption.text.startswith("nodule 0.968") and "NOT FOR DIAGNOSIS" in caption.text
    assert caption.box is not None and caption.box[0] == pytest.approx(10.0)
    assert caption.box[3] <= 20.0 and caption.justification == "LEFT"  # above the outline
    assert outline.colour is not None and outline.colour[0] > 200 and outline.colour[2] < 80  # the writer's yellow
    assert (drawing.window.center, drawing.window.width) == WINDOW
    assert drawing.area == (0.0, 0.0, COLUMNS, ROWS)


def test_vendor_gsps_display_units_scale_to_the_displayed_area(study, tmp_path):
    image, uid = study
    path = tmp_path / "study" / "vendor.dcm"
    vendor_gsps(image, path)
    state = read_presentation(path)
    assert state.label == "VENDOR" and set(state.layers) == {"MEASURE", "NOTES"}
    assert state.layers["MEASURE"].colour[0] > 200 > state.layers["MEASURE"].colour[1]  # CIELab red read as red
    drawing = state.drawing(uid, 0, (COLUMNS, ROWS))
    assert drawing.area == (48.0, 0.0, 96.0, 64.0)
    kinds = {shape.kind: shape for shape in drawing.shapes}
    assert set(kinds) == {"CIRCLE", "POINT", "ELLIPSE", "INTERPOLATED"}
    np.testing.assert_allclose(kinds["CIRCLE"].points, [[70, 30], [80, 30]])  # PIXEL: as written
    np.testing.assert_allclose(kinds["POINT"].points, [[5, 5]])
    # DISPLAY: x = 48 + f * 48, y = f * 64
    np.testing.assert_allclose(kinds["ELLIPSE"].points, [[60, 32], [84, 32], [72, 16], [72, 48]])
    np.testing.assert_allclose(kinds["INTERPOLATED"].points, [[52.8, 57.6], [72, 51.2], [91.2, 57.6]])
    labels = {label.text: label for label in drawing.labels}
    assert labels["vendor note"].box == pytest.approx((72.0, 0.0, 96.0, 6.4))
    assert labels["vendor note"].justification == "CENTER"  # highdicom's default
    assert labels["anchored"].anchor == (2.0, 62.0)
    assert [s.layer for s in drawing.shapes] == ["MEASURE"] * 4 and drawing.labels[0].layer == "NOTES"
    assert (drawing.window.center, drawing.window.width) == (500.0, 100.0)


def test_frames_and_other_images_get_nothing(study, tmp_path):
    image, uid = study
    path = tmp_path / "study" / "gsps.dcm"
    ds = radcam_gsps(image, path)
    ds.GraphicAnnotationSequence[0].ReferencedImageSequence[0].ReferencedFrameNumber = [2]
    state = read_presentation(ds)
    assert state.drawing(uid, 1, (COLUMNS, ROWS)).shapes  # frame index 1 is frame number 2
    assert not state.drawing(uid, 0, (COLUMNS, ROWS)).shapes
    assert not state.drawing("1.2.3.4", 1, (COLUMNS, ROWS)).shapes


def test_a_damaged_gsps_is_one_warning_and_the_rest_is_drawn(study, tmp_path):
    image, uid = study
    path = tmp_path / "study" / "damaged.dcm"
    ds = vendor_gsps(image, path)
    objects = ds.GraphicAnnotationSequence[0].GraphicObjectSequence
    objects[0].GraphicData = [70.0, 30.0, 80.0]  # an odd number of values
    objects[1].GraphicType = "SPLINE"  # no such type
    ds.GraphicAnnotationSequence[1].TextObjectSequence[0].BoundingBoxAnnotationUnits = "FURLONGS"
    ds.SoftcopyVOILUTSequence[0].WindowWidth = 0  # no LINEAR window has width 0
    ds.DisplayedAreaSelectionSequence[0].DisplayedAreaBottomRightHandCorner = 10  # a column without its row
    ds.save_as(path, enforce_file_format=True)
    state = read_presentation(path)
    assert len(state.notes) == 5
    warning = state.warning()
    assert warning.count("\n") == 0 and "VENDOR" in warning and "and 4 more" in warning
    drawing = state.drawing(uid, 0, (COLUMNS, ROWS))
    assert {s.kind for s in drawing.shapes} == {"ELLIPSE", "INTERPOLATED"}  # the two sound ones
    assert [label.text for label in drawing.labels] == ["anchored"]
    assert drawing.window is None and drawing.area == (0.0, 0.0, COLUMNS, ROWS)  # the whole image instead


def test_not_a_presentation_state_is_refused_in_one_line(study, tmp_path):
    image, _ = study
    with pytest.raises(StudyError, match="not a softcopy presentation state"):
        read_presentation(image)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x00" * 200)
    with pytest.raises(StudyError, match="not a readable DICOM file"):
        read_presentation(junk)


def test_lab_colours():
    assert lab_to_rgb((65535, 32896, 32896)) == (255, 255, 255)
    assert lab_to_rgb((0, 32896, 32896)) == (0, 0, 0)


def test_loader_attaches_a_gsps_opened_with_its_image(study, tmp_path):
    image, _ = study
    write_image(tmp_path / "study", "other.dcm")
    gsps = tmp_path / "study" / "image_gsps.dcm"
    radcam_gsps(image, gsps)
    result = load([tmp_path / "study"])
    assert result.skipped == []  # a presentation state is not a file without an image
    instances = {i.path.name: i for study in result.studies for one in study.series for i in one.instances}
    assert set(instances) == {"image.dcm", "other.dcm"}
    assert instances["image.dcm"].presentations == [gsps]
    assert instances["other.dcm"].presentations == []
    assert instances["image.dcm"].summary()["presentation_states"] == [str(gsps)]


def test_loader_reports_a_gsps_without_its_image(study, tmp_path):
    image, _ = study
    gsps = tmp_path / "alone" / "gsps.dcm"
    gsps.parent.mkdir()
    radcam_gsps(image, gsps)
    result = load([gsps])
    assert result.studies == []
    (skipped,) = result.skipped
    assert skipped.path == gsps
    assert skipped.reason == ("Grayscale Softcopy Presentation State for 1 image(s) not opened with it: open it "
                              "together with the image it annotates")


def test_info_names_the_presentation_states(study, tmp_path, capsys):
    image, _ = study
    radcam_gsps(image, tmp_path / "study" / "a_gsps.dcm")
    vendor_gsps(image, tmp_path / "study" / "b_vendor.dcm")
    code, out, err = run_cli(capsys, "info", image)
    assert code == 0, err
    states = json.loads(out)["presentation_states"]
    assert sorted(Path(s["path"]).name for s in states) == ["a_gsps.dcm", "b_vendor.dcm"]
    assert {s["label"] for s in states} == {"RADCAM", "VENDOR"}
    code, out, err = run_cli(capsys, "info", tmp_path / "study")
    assert code == 0, err
    folder = json.loads(out)
    (instance,) = folder["studies"][0]["series"][0]["instances"]
    assert sorted(Path(p).name for p in instance["presentation_states"]) == ["a_gsps.dcm", "b_vendor.dcm"]
    assert folder["skipped"] == []
    code, out, err = run_cli(capsys, "info", tmp_path / "study" / "b_vendor.dcm")  # the GSPS itself
    assert code == 0, err
    described = json.loads(out)
    assert described["kind"] == "presentation_state" and described["label"] == "VENDOR"
    assert described["images"] == [dcmread(image).SOPInstanceUID] and described["layers"] == ["MEASURE", "NOTES"]
    assert described["windows"][0]["center"] == 500.0 and described["warnings"] == []


def test_beside_passes_over_other_files(study, tmp_path):
    image, uid = study
    (tmp_path / "study" / "notes.txt").write_text("not DICOM")
    write_image(tmp_path / "study", "other.dcm")
    assert presentations_beside(image, uid) == []


def first(value) -> float:
    return float(value[0]) if isinstance(value, MultiValue) else float(value)


@needs_fixtures
def test_radcam_gsps_on_real_films_reads_back(tmp_path):
    """RadCAM's writer on a real CR (1955 x 1841, not square) and a real DX: opened with its film, attached; read
    back, the outline where it was written."""
    from viewer.export.gsps import GspsFinding, write_gsps

    outline = np.array([[100.0, 1500.0], [1800.0, 1500.0], [1800.0, 1700.0], [100.0, 1700.0]])
    for name, scale in (("cr_chest_mono1_j2k.dcm", 1.0), ("dx_chest_nih_uncompressed.dcm", 0.5)):
        folder = tmp_path / name
        folder.mkdir()
        image = folder / name
        shutil.copyfile(FIXTURES / "dicom" / name, image)
        source = dcmread(image, stop_before_pixels=True)
        finding = GspsFinding("finding", 0.9, "gradcam", "test", [outline * scale])
        write_gsps(folder / "gsps.dcm", source, [finding], None, description="real film")
        (instance,) = [i for study in load([folder]).studies for s in study.series for i in s.instances]
        assert instance.presentations == [folder / "gsps.dcm"]
        state = read_presentation(folder / "gsps.dcm")
        size = (int(source.Columns), int(source.Rows))
        (shape,) = state.drawing(source.SOPInstanceUID, 0, size).shapes
        np.testing.assert_allclose(shape.points[:4], outline * scale)
        assert state.warning() is None
        if "WindowCenter" in source:  # no window given: the writer keeps the film's own
            window = state.windows[0][1]
            assert (window.center, window.width) == (first(source.WindowCenter), first(source.WindowWidth))


@pytest.mark.parametrize(("rotation", "flip", "corners", "expected"), [
    # PS3.3 C.10.4: the corners are the displayed area's top left and bottom right pixels AFTER the spatial
    # transformation, numbered in the image's grid before it; DISPLAY (0, 0) is the displayed top left. The text
    # box's DISPLAY top left (0.5, 0.0) is half way along the displayed top edge, wherever that is in the image.
    (0, "N", ([49, 1], [96, 64]), (72.0, 0.0)),
    (0, "Y", ([96, 1], [49, 64]), (72.0, 0.0)),  # flipped: the displayed top edge still runs along row 0
    (90, "N", ([49, 64], [96, 1]), (48.0, 32.0)),  # a clockwise quarter turn: the left edge is shown on top
    (180, "N", ([96, 64], [49, 1]), (72.0, 64.0)),  # half a turn: the bottom edge is shown on top
    (270, "Y", ([96, 64], [49, 1]), (96.0, 32.0)),  # three quarters then a flip: the right edge on top, upwards
    (90, "N", ([49, 1], [96, 64]), (48.0, 32.0)),  # a writer that kept the corners unturned: the same rectangle
])
def test_display_units_follow_the_spatial_transformation(study, tmp_path, rotation, flip, corners, expected):
    image, uid = study
    path = tmp_path / "study" / "vendor.dcm"
    ds = vendor_gsps(image, path)
    ds.ImageRotation, ds.ImageHorizontalFlip = rotation, flip
    area = ds.DisplayedAreaSelectionSequence[0]
    area.DisplayedAreaTopLeftHandCorner, area.DisplayedAreaBottomRightHandCorner = corners
    ds.save_as(path, enforce_file_format=True)
    state = read_presentation(path)
    assert state.notes == []  # corners in either order are valid, never 'damaged'
    drawing = state.drawing(uid, 0, (COLUMNS, ROWS))
    assert drawing.area == (48.0, 0.0, 96.0, 64.0)
    note = next(label for label in drawing.labels if label.text == "vendor note")
    assert note.box[:2] == pytest.approx(expected)
