"""The `radcam-cli explain / predict / methods / layers` contract, on the demo model and the real fixture model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, assert_one_line_error, needs_fixtures, run_cli
from PIL import Image

from viewer.assets import resource_path
from viewer.io import open_image
from viewer.render import DEFAULTS

DEMO_PNG = resource_path("demo", "demo_nodule.png")
DEMO_DICOM = resource_path("demo", "demo_cr_nodule.dcm")
FIXTURE_MODEL = FIXTURES / "models" / "am1codes_pneumonia_150.h5"
LINE_KEYS = {"image", "model", "method", "layer", "target", "predictions", "cam_shape", "device", "timings_ms",
             "outputs"}


def explain(capsys, *argv):
    code, out, err = run_cli(capsys, "explain", *argv)
    return code, [json.loads(line) for line in out.splitlines()], err


def test_explain_writes_every_output_of_the_contract(capsys, tmp_path):
    code, lines, err = explain(capsys, DEMO_PNG, "--out", tmp_path)
    assert code == 0, err
    (line,) = lines
    assert LINE_KEYS <= line.keys()
    assert set(line["timings_ms"]) >= {"load", "preprocess", "cam", "render"}
    assert line["method"] == "gradcam" and line["layer"] == "block4_relu"
    scores = [p["score"] for p in line["predictions"]]
    assert line["target"]["index"] == int(np.argmax(scores))  # default target: the top class
    assert line["target"]["name"] == line["predictions"][line["target"]["index"]]["name"]
    names = {"demo_nodule_original.png", "demo_nodule_heatmap.png", "demo_nodule_overlay.png",
             "demo_nodule_panels.png", "demo_nodule_cam.npy", "demo_nodule.json"}
    assert {Path(p).name for p in line["outputs"]} == names == {p.name for p in tmp_path.iterdir()}

    shown = open_image(DEMO_PNG).render()
    cam = np.load(tmp_path / "demo_nodule_cam.npy")
    assert cam.dtype == np.float32 and cam.shape == shown.shape[:2] == tuple(line["cam_shape"])
    assert cam.min() >= 0 and 0.9 < cam.max() <= 1  # bilinear upsampling may miss the exact peak
    assert np.array_equal(np.asarray(Image.open(tmp_path / "demo_nodule_original.png")), shown)
    exported = np.asarray(Image.open(tmp_path / "demo_nodule_overlay.png"))
    # The overlay at the top left, its colour bar on the right and its caption below (tests/test_export_caption.py).
    assert exported.shape[0] > shown.shape[0] and exported.shape[1] > shown.shape[1]
    overlay = exported[:shown.shape[0], :shown.shape[1]]
    # Below the CAM threshold the overlay is transparent: the original shows through unchanged.
    cold = cam < DEFAULTS.cam_threshold
    assert np.array_equal(overlay[cold], np.repeat(shown[cold][:, None], 3, axis=1))
    assert not np.array_equal(overlay[~cold], np.repeat(shown[~cold][:, None], 3, axis=1))
    sidecar = json.loads((tmp_path / "demo_nodule.json").read_text())
    assert sidecar["method"] == "gradcam" and sidecar["target"] == line["target"]
    assert sidecar["overlay"] == {"threshold": DEFAULTS.cam_threshold, "opacity": DEFAULTS.opacity,
                                  "colormap": DEFAULTS.colormap, "contour": DEFAULTS.contour}
    assert sidecar["software"]["name"] == "RadCAM"


def test_explain_target_by_name_or_index_and_overlay_options(capsys, tmp_path):
    runs = {}
    for target in ("consolidation", "1"):
        out = tmp_path / target
        code, (line,), err = explain(capsys, DEMO_PNG, "--out", out, "--target", target, "--method", "gradcam++",
                                     "--threshold", "0.2", "--alpha", "0.8", "--colormap", "turbo", "--contour")
        assert code == 0, err
        assert line["target"] == {"index": 1, "name": "consolidation"} and line["method"] == "gradcampp"
        runs[target] = np.load(out / "demo_nodule_cam.npy")
    assert np.array_equal(runs["consolidation"], runs["1"])
    sidecar = json.loads((tmp_path / "1" / "demo_nodule.json").read_text())
    assert sidecar["overlay"] == {"threshold": 0.2, "opacity": 0.8, "colormap": "turbo", "contour": True}


def test_explain_never_overwrites_without_asking(capsys, tmp_path):
    assert explain(capsys, DEMO_PNG, "--out", tmp_path)[0] == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    code, lines, err = explain(capsys, DEMO_PNG, "--out", tmp_path, "--method", "eigencam")
    assert_one_line_error(code, err)
    assert "--overwrite" in err and lines == []
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps
    code, (line,), err = explain(capsys, DEMO_PNG, "--out", tmp_path, "--method", "eigencam", "--overwrite")
    assert code == 0 and json.loads((tmp_path / "demo_nodule.json").read_text())["method"] == "eigencam"


def test_explain_dicom_secondary_capture_anonymized(capsys, tmp_path):
    import pydicom

    source = pydicom.dcmread(DEMO_DICOM)
    code, (line,), err = explain(capsys, DEMO_DICOM, "--out", tmp_path, "--dicom-sc", "--anonymize")
    assert code == 0, err
    sc_path = tmp_path / "radcam_001_overlay_sc.dcm"  # anonymous exports never carry the source's file name
    assert str(sc_path) in line["outputs"]
    sc = pydicom.dcmread(sc_path)
    assert sc.BurnedInAnnotation == "YES" and "DERIVED" in sc.ImageType
    assert str(sc.PatientName) != str(source.PatientName) and sc.PatientID != source.PatientID
    assert sc.StudyInstanceUID != source.StudyInstanceUID  # anonymised: new UIDs
    assert not any("demo_cr_nodule" in Path(output).name for output in line["outputs"])
    sidecar = (tmp_path / "radcam_001.json").read_text()
    assert str(source.PatientName).split("^")[0] not in sidecar and source.PatientID not in sidecar


@pytest.mark.parametrize("argv, needle", [
    (["--method", "nosuchcam"], "nosuchcam"),
    (["--target", "pneumothorax"], "pneumothorax"),
    (["--layer", "no_such_layer"], "no_such_layer"),
    (["--threshold", "1.5"], "threshold"),
    (["--model", "/nonexistent/model.keras"], "model.keras"),
    (["--method", "cam", "--layer", "block3_relu"], "not applicable"),
])
def test_explain_bad_options_give_one_line(capsys, tmp_path, argv, needle):
    code, lines, err = explain(capsys, DEMO_PNG, "--out", tmp_path / "out", *argv)
    assert_one_line_error(code, err)
    assert needle in err and lines == []


def test_explain_several_images_goes_on_past_a_bad_one(capsys, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code, lines, err = explain(capsys, DEMO_PNG, bad, "--out", tmp_path / "out")
    assert code == 2
    assert [line["image"] for line in lines] == [str(DEMO_PNG)]
    errors = [line for line in err.splitlines() if line.startswith("radcam: error: ")]
    assert len(errors) == 2 and "broken.png" in errors[0] and "1 of 2" in errors[1]
    assert "Traceback" not in err and (tmp_path / "out" / "demo_nodule_overlay.png").exists()


def test_predict_folder_equals_the_model_on_the_same_arrays(capsys, tmp_path):
    import keras
    import tensorflow as tf

    from viewer.demo.phantom import make_phantom
    from viewer.model import default_model_path

    folder = tmp_path / "pngs" / "nested"
    folder.mkdir(parents=True)
    for seed in range(5):
        pixels = np.round(make_phantom(seed, size=300).image * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"phantom_{seed}.png")
    out = tmp_path / "scores.csv"
    code, _, err = run_cli(capsys, "predict", tmp_path / "pngs", "--csv", out)
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert [Path(r["path"]).name for r in rows] == [f"phantom_{s}.png" for s in range(5)]

    # The reference: the model file called directly, on images prepared without RadCAM's code.
    model = keras.saving.load_model(default_model_path(), compile=False)
    arrays = np.stack([np.asarray(Image.open(folder / f"phantom_{s}.png"), np.float32) for s in range(5)])
    x = tf.image.resize(arrays[..., None], (128, 128), method="bilinear", antialias=True) / 255.0
    expected = np.asarray(model(x, training=False))
    got = np.array([[float(r["nodule"]), float(r["consolidation"])] for r in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_predict_to_stdout_with_labels_override(capsys):
    code, out, err = run_cli(capsys, "predict", DEMO_PNG, "--labels", "a,b")
    assert code == 0, err
    header, row = list(csv.reader(out.splitlines()))
    assert header == ["path", "a", "b", "out_of_domain"] and row[0] == str(DEMO_PNG)
    assert all(0 <= float(v) <= 1 for v in row[1:3]) and row[3] == ""


def test_methods_lists_every_method_with_gradient_need(capsys):
    from viewer.cam import METHODS

    code, out, err = run_cli(capsys, "methods", "--json")
    assert code == 0, err
    listed = [json.loads(line) for line in out.splitlines()]
    assert [m["name"] for m in listed] == list(METHODS)
    assert len(listed) == 12 and all(m["description"] for m in listed)
    needs = {m["name"]: m["needs_gradients"] for m in listed}
    assert needs["gradcam"] and needs["guided-backprop"] and not needs["scorecam"] and not needs["eigencam"]


def test_layers_of_the_demo_model_mark_the_default(capsys):
    code, out, err = run_cli(capsys, "layers", "--json")
    assert code == 0, err
    layers = [json.loads(line) for line in out.splitlines()]
    assert [layer["name"] for layer in layers if layer["default"]] == ["block4_relu"]
    assert all(len(layer["shape"]) == 3 for layer in layers)


@needs_fixtures
def test_real_legacy_h5_model_through_the_cli(capsys, tmp_path):
    code, out, err = run_cli(capsys, "layers", "--model", FIXTURE_MODEL)
    assert code == 0, err
    default = [line.split()[1] for line in out.splitlines() if line.startswith("*")]
    assert default == ["conv2d_4"]
    image = FIXTURES / "images" / "nih_00001021_000_pneumonia.png"
    code, (line,), err = explain(capsys, image, "--model", FIXTURE_MODEL, "--out", tmp_path)
    assert code == 0, err
    assert line["layer"] == "conv2d_4" and line["cam_shape"] == [1024, 1024]
    assert line["target"]["name"] in ("positive", "negative")
