"""Every DICOM object RadCAM writes (Secondary Capture, GSPS, Parametric Map) passes dciodvfy (dicom3tools) with no
error, anonymised and not, built from real DICOM originals; it reads back with highdicom/pydicom with its references
to the original intact; anonymised, no byte of it carries the patient's name or ID or the source's path."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import FIXTURES
from pydicom.data import get_testdata_file

from viewer.export.anonymize import AnonymizationSession
from viewer.export.dicom_sc import write_secondary_capture

DCIODVFY = shutil.which("dciodvfy")
needs_dciodvfy = pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")

# Real originals: the chest fixtures (CR, DX) and pydicom's own CR (pydicom ships no DX or MG file).
FIXTURE_NAMES = ("cr_chest_mono1_j2k.dcm", "cr_chest_mono1_no_meta.dcm", "cr_chest_siim_jpeg_baseline.dcm",
                 "dx_chest_nih_uncompressed.dcm")


def _sources() -> list:
    found = [pytest.param(FIXTURES / "dicom" / name, id=name.removesuffix(".dcm"),
                          marks=pytest.mark.skipif(not (FIXTURES / "dicom" / name).is_file(),
                                                   reason=f"../shared/fixtures/dicom/{name} is absent"))
             for name in FIXTURE_NAMES]
    cr = get_testdata_file("6154", download=False)  # CR 16 x 16, Doe^Archibald, in pydicom's dicomdirtests
    if cr is None:
        found += [pytest.param(None, id="pydicom_cr", marks=pytest.mark.skip(reason="pydicom's CR 6154 is absent"))]
    else:
        found += [pytest.param(Path(cr), id="pydicom_cr")]
    return found


SOURCES = _sources()
LONG_DESCRIPTION = ("RadCAM Overlay: Grad-CAM · Pneumonia 0.930 · model am1codes_pneumonia_150 | CAM threshold "
                    "0.50 · decision threshold (PNEUMONIA) 0.50 | NOT FOR DIAGNOSIS")


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's Error lines for `path` (warnings are advice: none of them makes an object invalid)."""
    done = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


def read_source(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path, force=True)  # one fixture is an old file without preamble or file meta


def identifiers(source: pydicom.Dataset, path: Path) -> list[bytes]:
    """What must never leave an anonymised export: the patient's name (and its parts) and ID, the source's path."""
    found = [str(path).encode(), str(path.parent).encode()]
    found += [name.encode() for name in (path.name, path.stem) if len(name) >= 8]  # "6154" occurs in UIDs by chance
    for keyword in ("PatientName", "PatientID"):
        text = str(source.get(keyword) or "")
        if text and text.upper() not in ("ANONYMIZED", "ANONYMOUS"):
            found.append(text.encode())
            found += [part.encode() for part in text.replace("^", " ").split() if len(part) > 2]
    return found


def assert_no_identifier(path: Path, source: pydicom.Dataset, source_path: Path) -> None:
    raw = path.read_bytes()
    for secret in identifiers(source, source_path):
        assert secret not in raw, f"{secret!r} in {path.name}"


def _image(source: pydicom.Dataset) -> np.ndarray:
    return np.full((64, 96, 3), 90, np.uint8)


# Secondary Capture ------------------------------------------------------------------------------------------------

@needs_dciodvfy
@pytest.mark.parametrize("anonymize", [False, True], ids=["identified", "anonymised"])
@pytest.mark.parametrize("source_path", SOURCES)
def test_secondary_capture_passes_dciodvfy(tmp_path, source_path, anonymize):
    source, session = read_source(source_path), AnonymizationSession()
    out = tmp_path / "sc.dcm"
    write_secondary_capture(out, _image(source), source, LONG_DESCRIPTION, anonymize=anonymize, session=session)
    assert dciodvfy_errors(out) == []
    back = pydicom.dcmread(out)
    assert len(back.SeriesDescription.encode("utf-8")) <= 64  # LO is 64 bytes; "·" is two of them
    assert "Laterality" in back
    reference = back.SourceImageSequence[0]
    assert reference.ReferencedSOPClassUID == source.SOPClassUID
    if anonymize:
        assert reference.ReferencedSOPInstanceUID == session.uid(source.SOPInstanceUID)
        assert back.StudyInstanceUID == session.uid(source.StudyInstanceUID) != source.StudyInstanceUID
        assert_no_identifier(out, source, source_path)
    else:
        assert reference.ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert back.StudyInstanceUID == source.StudyInstanceUID


@needs_dciodvfy
@pytest.mark.parametrize("anonymize", [False, True], ids=["identified", "anonymised"])
def test_secondary_capture_of_a_png_study_passes_dciodvfy(tmp_path, anonymize):
    write_secondary_capture(tmp_path / "sc.dcm", np.zeros((32, 48, 3), np.uint8), None, LONG_DESCRIPTION,
                            anonymize=anonymize)
    assert dciodvfy_errors(tmp_path / "sc.dcm") == []


def test_series_description_is_cut_to_64_bytes_never_inside_a_character(tmp_path):
    from viewer.export.dicom_common import fit

    text = "é" * 40  # 80 bytes in UTF-8
    assert fit(text) == "é" * 32 and fit("short") == "short"
    assert fit("a" * 63 + "·b") == "a" * 63  # the 2-byte "·" does not fit in the 64th byte; no half of it stays
    assert len(fit(LONG_DESCRIPTION).encode()) <= 64 and not fit(LONG_DESCRIPTION).endswith(("|", " "))


def test_secondary_capture_copies_the_source_laterality(tmp_path):
    source = read_source(Path(get_testdata_file("CT_small.dcm", download=False)))
    source.ImageLaterality = "L"
    write_secondary_capture(tmp_path / "sc.dcm", np.zeros((8, 8), np.uint8), source, "x")
    assert pydicom.dcmread(tmp_path / "sc.dcm").Laterality == "L"
    del source.ImageLaterality
    write_secondary_capture(tmp_path / "none.dcm", np.zeros((8, 8), np.uint8), source, "x")
    back = pydicom.dcmread(tmp_path / "none.dcm")
    assert "Laterality" in back and not back.Laterality  # Type 2C with the body part unknown: present, empty


# Grayscale Softcopy Presentation State ----------------------------------------------------------------------------

def _cam(source: pydicom.Dataset) -> np.ndarray:
    """A blob left of centre, as a CAM at the original's resolution."""
    rows, columns = int(source.Rows), int(source.Columns)
    y, x = np.mgrid[0:rows, 0:columns]
    return np.exp(-(((x - columns * 0.4) / (columns * 0.15)) ** 2 + ((y - rows * 0.5) / (rows * 0.2)) ** 2)
                  ).astype(np.float32)


def _findings(source: pydicom.Dataset) -> list:
    from viewer.export.gsps import GspsFinding
    from viewer.render.contours import contour_polygons

    return [GspsFinding("Pneumonia", 0.931, "Grad-CAM", "am1codes_pneumonia_150", contour_polygons(_cam(source), 0.5),
                        not_for_diagnosis=True),
            GspsFinding("Effusion", 0.612, "Grad-CAM", "am1codes_pneumonia_150", [], not_for_diagnosis=True)]


@needs_dciodvfy
@pytest.mark.parametrize("anonymize", [False, True], ids=["identified", "anonymised"])
@pytest.mark.parametrize("source_path", SOURCES)
def test_gsps_passes_dciodvfy_and_references_the_original(tmp_path, source_path, anonymize):
    from viewer.export.gsps import write_gsps

    source, session = read_source(source_path), AnonymizationSession()
    findings = _findings(source)
    out = tmp_path / "gsps.dcm"
    write_gsps(out, source, findings, (1234.0, 567.0), description=LONG_DESCRIPTION, anonymize=anonymize,
               session=session)
    assert dciodvfy_errors(out) == []
    back = pydicom.dcmread(out)
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1" and back.Modality == "PR"  # highdicom 0.28 reads no PR
    series = back.ReferencedSeriesSequence[0]
    image = series.ReferencedImageSequence[0]
    assert image.ReferencedSOPClassUID == source.SOPClassUID
    expected = session.uid if anonymize else str
    assert image.ReferencedSOPInstanceUID == expected(source.SOPInstanceUID)
    assert series.SeriesInstanceUID == expected(source.SeriesInstanceUID)
    assert back.StudyInstanceUID == expected(source.StudyInstanceUID)
    if anonymize:
        assert back.StudyInstanceUID != source.StudyInstanceUID
        assert_no_identifier(out, source, source_path)
    # one annotation per finding, on its own layer; the contour as closed POLYLINEs in PIXEL units
    annotations = back.GraphicAnnotationSequence
    assert [a.GraphicLayer for a in annotations] == ["FINDING_1", "FINDING_2"]
    assert [layer.GraphicLayerDescription for layer in back.GraphicLayerSequence] == ["Pneumonia", "Effusion"]
    outlines = annotations[0].GraphicObjectSequence
    assert len(outlines) == len(findings[0].contours) >= 1
    for outline, contour in zip(outlines, findings[0].contours, strict=True):
        assert outline.GraphicType == "POLYLINE" and outline.GraphicAnnotationUnits == "PIXEL"
        points = np.asarray(outline.GraphicData, dtype=float).reshape(-1, 2)
        assert np.allclose(points[:-1], contour, atol=1e-3) and np.allclose(points[0], points[-1])
        assert points[:, 0].max() <= source.Columns and points[:, 1].max() <= source.Rows
    assert "GraphicObjectSequence" not in annotations[1]  # no contour above the threshold: text only
    texts = [a.TextObjectSequence[0].UnformattedTextValue for a in annotations]
    assert texts[0] == "Pneumonia 0.931 · Grad-CAM · model am1codes_pneumonia_150 · NOT FOR DIAGNOSIS"
    assert texts[1].startswith("Effusion 0.612 · Grad-CAM")
    for annotation in annotations:
        left, top, right, bottom = (float(v) for v in (*annotation.TextObjectSequence[0].BoundingBoxTopLeftHandCorner,
                                                       *annotation.TextObjectSequence[0].BoundingBoxBottomRightHandCorner))
        assert 0 <= left < right <= source.Columns and 0 <= top < bottom <= source.Rows
    voi = back.SoftcopyVOILUTSequence[0]  # the reader's window, not the file's
    assert (float(voi.WindowCenter), float(voi.WindowWidth)) == (1234.0, 567.0)
    assert voi.WindowCenterWidthExplanation == "RadCAM reader's window"
    # a presentation state ignores Photometric Interpretation: MONOCHROME1 shows as intended only through INVERSE
    mono1 = source.PhotometricInterpretation == "MONOCHROME1"
    assert back.PresentationLUTShape == ("INVERSE" if mono1 else "IDENTITY")


def test_gsps_without_a_window_keeps_the_originals_and_says_no_diagnosis_only_when_asked(tmp_path):
    from viewer.export.gsps import GspsFinding, write_gsps

    source = read_source(Path(get_testdata_file("6154", download=False)))  # pydicom's CR: window 1600/2800
    finding = GspsFinding("Nodule", None, "Grad-CAM", "demo", [np.array([[1, 1], [9, 1], [9, 9]])])
    write_gsps(tmp_path / "g.dcm", source, [finding], None, description="RadCAM")
    back = pydicom.dcmread(tmp_path / "g.dcm")
    assert back.GraphicAnnotationSequence[0].TextObjectSequence[0].UnformattedTextValue == (
        "Nodule · Grad-CAM · model demo")  # no score known, and the model's spec does not say NOT FOR DIAGNOSIS
    voi = back.SoftcopyVOILUTSequence[0]  # no reader's window: the original's own
    assert (float(voi.WindowCenter), float(voi.WindowWidth)) == (1600, 2800)


def test_gsps_refusals_are_one_clear_line(tmp_path):
    from viewer.errors import ExportError
    from viewer.export.gsps import write_gsps

    colour = read_source(Path(get_testdata_file("SC_rgb_small_odd.dcm", download=False)))
    with pytest.raises(ExportError, match="greyscale original"):
        write_gsps(tmp_path / "c.dcm", colour, [], None, description="x")
    legacy = read_source(Path(get_testdata_file("CT_small.dcm", download=False)))
    legacy.NumberOfFrames = 2  # frames without the enhanced functional groups
    with pytest.raises(ExportError, match="legacy multi-frame"):
        write_gsps(tmp_path / "m.dcm", legacy, [], None, description="x")
    source = read_source(Path(get_testdata_file("CT_small.dcm", download=False)))
    with pytest.raises(ExportError, match="not a usable VOI window"):
        write_gsps(tmp_path / "w.dcm", source, [], (float("nan"), 1.0), description="x")
    write_gsps(tmp_path / "ok.dcm", source, [], None, description="x")
    with pytest.raises(ExportError, match="exist"):
        write_gsps(tmp_path / "ok.dcm", source, [], None, description="x")
    assert not list(tmp_path.glob("[cmw].dcm"))


# Parametric Map ---------------------------------------------------------------------------------------------------

@needs_dciodvfy
@pytest.mark.parametrize("anonymize", [False, True], ids=["identified", "anonymised"])
@pytest.mark.parametrize("source_path", SOURCES)
def test_parametric_map_passes_dciodvfy_and_holds_the_cam(tmp_path, source_path, anonymize):
    import highdicom as hd

    from viewer.export.parametric_map import write_parametric_map

    source, session = read_source(source_path), AnonymizationSession()
    cam = _cam(source)
    out = tmp_path / "pmap.dcm"
    write_parametric_map(out, source, cam, label="Pneumonia", method="Grad-CAM", model="am1codes_pneumonia_150",
                         anonymize=anonymize, session=session)
    assert dciodvfy_errors(out) == []
    back = hd.pm.ParametricMap.from_dataset(pydicom.dcmread(out))
    assert back.pixel_array.dtype == np.float32 and back.pixel_array.shape == (source.Rows, source.Columns)
    assert np.array_equal(back.pixel_array, cam)  # the values themselves, at the original's resolution
    mapping = back.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert mapping.LUTLabel == "CAM"
    assert mapping.LUTExplanation == "Grad-CAM CAM of Pneumonia, model am1codes_pneumonia_150"
    assert mapping.DoubleFloatRealWorldValueFirstValueMapped == 0
    assert mapping.DoubleFloatRealWorldValueLastValueMapped == 1
    assert (mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept) == (1, 0)
    assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == "1"  # UCUM: no units
    expected = session.uid if anonymize else str
    ((study, series, instance),) = back.get_source_image_uids()
    assert (study, series, instance) == tuple(expected(source[k].value) for k in
                                              ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"))
    assert back.StudyInstanceUID == expected(source.StudyInstanceUID)
    derived = back.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
    assert derived.ReferencedSOPClassUID == source.SOPClassUID and derived.SpatialLocationsPreserved == "YES"
    if anonymize:
        assert_no_identifier(out, source, source_path)


def test_parametric_map_refuses_a_cam_not_at_the_originals_resolution(tmp_path):
    from viewer.errors import ExportError
    from viewer.export.parametric_map import write_parametric_map

    source = read_source(Path(get_testdata_file("CT_small.dcm", download=False)))
    for cam, why in ((np.zeros((64, 64), np.float32), "128x128"), (np.zeros((128, 128), np.uint8), "float"),
                     (np.full((128, 128), np.nan, np.float32), "not finite")):
        with pytest.raises(ExportError, match=why):
            write_parametric_map(tmp_path / "p.dcm", source, cam, label="x", method="y", model="z")
    assert not (tmp_path / "p.dcm").exists()


# radcam-cli explain --dicom-sc --dicom-gsps --dicom-pmap, and File → Export ------------------------------------------

def _demo(name: str) -> Path:
    from viewer.assets import resource_path

    return resource_path("demo", name)


@needs_dciodvfy
@pytest.mark.parametrize("anonymize", [False, True], ids=["identified", "anonymised"])
def test_explain_writes_the_three_dicom_objects(capsys, tmp_path, anonymize):
    import json

    from conftest import run_cli

    source_path = _demo("demo_cr_nodule.dcm")
    source = read_source(source_path)
    code, out, err = run_cli(capsys, "explain", source_path, "--out", tmp_path, "--dicom-sc", "--dicom-gsps",
                             "--dicom-pmap", "--all-findings", *(["--anonymize"] if anonymize else []))
    assert code == 0, err
    stem = "radcam_001" if anonymize else "demo_cr_nodule"
    (line,) = [json.loads(text) for text in out.splitlines()]
    objects = [tmp_path / f"{stem}_{suffix}.dcm" for suffix in ("overlay_sc", "gsps", "pmap")]
    assert [str(path) for path in objects] == [o for o in line["outputs"] if o.endswith(".dcm")]
    for path in objects:
        assert dciodvfy_errors(path) == [], path.name
        back = pydicom.dcmread(path)
        assert back.StudyInstanceUID != source.StudyInstanceUID if anonymize else \
            back.StudyInstanceUID == source.StudyInstanceUID
    sc, gsps, pmap = (pydicom.dcmread(path) for path in objects)
    # one session per run: the three objects reference the same (pseudonymous) original
    assert len({sc.StudyInstanceUID, gsps.StudyInstanceUID, pmap.StudyInstanceUID}) == 1
    original = sc.SourceImageSequence[0].ReferencedSOPInstanceUID
    assert gsps.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID == original
    assert pmap.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0] \
        .ReferencedSOPInstanceUID == original
    # --all-findings: every finding the findings image shows is one annotation of the presentation state
    assert [a.TextObjectSequence[0].UnformattedTextValue.split(" ")[0] for a in gsps.GraphicAnnotationSequence] \
        == [row["name"] for row in line["findings"]]
    assert pmap.Rows == source.Rows and pmap.Columns == source.Columns
    if anonymize:
        for path in objects:
            assert_no_identifier(path, source, source_path)
        for secret in identifiers(source, source_path):
            assert secret.decode() not in out + err


def test_explain_refuses_presentation_states_and_maps_of_a_non_dicom_image(capsys, tmp_path):
    from conftest import assert_one_line_error, run_cli

    for option in ("--dicom-gsps", "--dicom-pmap"):
        code, out, err = run_cli(capsys, "explain", _demo("demo_nodule.png"), "--out", tmp_path, option)
        assert_one_line_error(code, err)
        assert "needs a DICOM original" in err and out == ""
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_file_export_writes_the_dicom_kinds_with_the_readers_window(tmp_path):
    from viewer.app import ExplainRequest, InlineJobs, ViewerState
    from viewer.app.exporting import ExportOptions, ExportPlan
    from viewer.app.session import ModelSession
    from viewer.io import open_image
    from viewer.io.windows import Window
    from viewer.model import default_model_path

    if not default_model_path().is_file():
        pytest.skip("the shipped demo model is absent (scripts/train_demo_model.py makes it)")
    state, jobs, session, errors = ViewerState(), InlineJobs(), ModelSession(), []
    jobs.submit(lambda reporter: session.load(default_model_path(), False, reporter),
                lambda info: setattr(state, "model", info), errors.append, kind="model")
    image = open_image(_demo("demo_cr_nodule.dcm"))
    state.show_image(image, image.render(), image.value_span())
    request = ExplainRequest(key=state.key(), pixels=state.model_input, base=state.base, style=state.style)
    jobs.submit(lambda reporter: session.explain(request, reporter), state.accept, errors.append, kind="explain")
    state.window = Window(1500.0, 900.0, "dragged")  # the reader's own window
    state.inverted = True  # and flipped the grey scale
    state.orientation = state.orientation.flipped_h().rotated()  # and turned the view: the GSPS turns it too
    options = ExportOptions(panels=["overlay"], folder=tmp_path, sidecar=False, dicom=["sc", "gsps", "pmap"])
    assert ExportOptions.from_settings(lambda key, default: options.to_settings().get(key.split("/")[1], default)
                                       ).dicom == ["sc", "gsps", "pmap"]
    plan = ExportPlan(state, options, [image.path], 100)
    assert [p.name for p in plan.paths] == ["demo_cr_nodule_overlay.png", "demo_cr_nodule_overlay_sc.dcm",
                                            "demo_cr_nodule_gsps.dcm", "demo_cr_nodule_pmap.dcm"]
    written: list[Path] = []
    jobs.submit(plan.job(session, open_image), written.extend, errors.append, kind="export")
    assert not errors and written == plan.paths
    voi = pydicom.dcmread(tmp_path / "demo_cr_nodule_gsps.dcm").SoftcopyVOILUTSequence[0]
    assert (float(voi.WindowCenter), float(voi.WindowWidth)) == (1500.0, 900.0)
    mono1 = image.dataset.PhotometricInterpretation == "MONOCHROME1"
    gsps = pydicom.dcmread(tmp_path / "demo_cr_nodule_gsps.dcm")
    assert gsps.PresentationLUTShape == ("IDENTITY" if mono1 else "INVERSE")
    assert (int(gsps.ImageRotation), gsps.ImageHorizontalFlip) == (270, "Y")  # flip then 90: 270, then flip
    png = open_image(_demo("demo_nodule.png"))  # a PNG study: the plan says why in one line before anything runs
    state.show_image(png, png.render(), png.value_span())
    request = ExplainRequest(key=state.key(), pixels=state.model_input, base=state.base, style=state.style)
    jobs.submit(lambda reporter: session.explain(request, reporter), state.accept, errors.append, kind="explain")
    assert "needs a DICOM original" in ExportPlan(state, options, [png.path], 100).refusal()
    assert ExportPlan(state, ExportOptions(folder=tmp_path, dicom=["sc"]), [png.path], 100).refusal() is None


def test_export_dialog_offers_the_dicom_kinds(qtbot, tmp_path):
    from viewer.app.exporting import ExportOptions
    from viewer.ui.export_dialog import ExportDialog

    dialog = ExportDialog(ExportOptions(folder=tmp_path, dicom=["gsps"]), open_images=1)
    qtbot.addWidget(dialog)
    assert [kind for kind, box in dialog.dicom.items() if box.isChecked()] == ["gsps"]
    dialog.dicom["pmap"].setChecked(True)
    dialog.dicom["gsps"].setChecked(False)
    assert dialog.options().dicom == ["pmap"]


def test_gsps_caption_box_sits_on_its_outline_however_long_the_caption(tmp_path):
    """A LEFT-justified viewer writes the caption from its box's left edge: a box as wide as the image put every
    long caption at the image's left edge, far from a finding on the right. The box is about as wide as the outline,
    starts at its left and ends on its top, tall enough for the caption's lines; captions of findings without an
    outline are stacked without overlapping."""
    from viewer.export.gsps import GspsFinding, write_gsps

    source = read_source(Path(get_testdata_file("CT_small.dcm", download=False)))  # 128 x 128
    outline = np.array([[60.0, 60.0], [90.0, 60.0], [90.0, 90.0], [60.0, 90.0]])
    findings = [GspsFinding("consolidation", 0.565, "Grad-CAM", "demo_phantom_cnn", [outline], True),
                GspsFinding("nodule", 0.5, "Grad-CAM", "demo_phantom_cnn", [], True),
                GspsFinding("effusion", 0.4, "Grad-CAM", "demo_phantom_cnn", [], True)]
    write_gsps(tmp_path / "g.dcm", source, findings, None, description="RadCAM")
    boxes = [tuple(float(v) for v in (*t.BoundingBoxTopLeftHandCorner, *t.BoundingBoxBottomRightHandCorner))
             for t in (a.TextObjectSequence[0] for a in pydicom.dcmread(tmp_path / "g.dcm").GraphicAnnotationSequence)]
    left, top, right, bottom = boxes[0]
    assert left == pytest.approx(60.0) and right - left <= 128 * 0.45  # on the outline, not the image's width
    assert bottom == pytest.approx(60.0) and bottom - top >= 2 * 128 * 0.035  # above it, room for several lines
    (_, top1, _, bottom1), (_, top2, _, bottom2) = boxes[1:]
    assert top1 == 0 and top2 >= bottom1 > top1 and bottom2 <= 128  # stacked, never over each other



@needs_dciodvfy
@pytest.mark.parametrize(("spatial", "corners"), [
    ((0, False), ([1, 1], [96, 64])),
    ((90, False), ([1, 64], [96, 1])),  # a clockwise quarter turn: the bottom left pixel is shown top left
    ((0, True), ([96, 1], [1, 64])),
    ((270, True), ([96, 64], [1, 1])),
])
def test_gsps_carries_the_readers_turn_and_flip(tmp_path, spatial, corners):
    """The view as the reader turned or flipped it goes into the Spatial Transformation (turn, then flip), and the
    displayed area's corners are the pixels shown top left and bottom right after it (PS3.3 C.10.4)."""
    from viewer.export.gsps import GspsFinding, write_gsps
    from viewer.io.presentation import read_presentation

    source = read_source(Path(get_testdata_file("CT_small.dcm", download=False)))
    source.Rows, source.Columns = 64, 96  # not square: swapped corners would show
    finding = GspsFinding("Nodule", 0.9, "Grad-CAM", "demo", [np.array([[10.0, 10.0], [30.0, 10.0], [30, 30]])])
    out = tmp_path / "g.dcm"
    write_gsps(out, source, [finding], None, description="RadCAM", spatial=spatial)
    assert dciodvfy_errors(out) == []
    back = pydicom.dcmread(out)
    assert (int(back.ImageRotation), back.ImageHorizontalFlip == "Y") == spatial
    area = back.DisplayedAreaSelectionSequence[0]
    assert [list(area.DisplayedAreaTopLeftHandCorner), list(area.DisplayedAreaBottomRightHandCorner)] == list(corners)
    state = read_presentation(out)
    assert (state.rotation, state.flip) == spatial and state.notes == []
