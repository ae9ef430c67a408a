"""Issue 16, part 4: exports say what they are. Every map export (PNG panels, the overlay, DICOM Secondary Capture)
burns in the model, method, target, both thresholds by name, the colour bar and, when the model's sidecar says so
(the viewer's badge rule), NOT FOR DIAGNOSIS; the viewer and the CLI export the same pixels with defaults."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import pytest  # noqa: E402
from conftest import run_cli  # noqa: E402
from PIL import Image  # noqa: E402

from viewer.app.requests import ModelInfo  # noqa: E402
from viewer.assets import resource_path  # noqa: E402
from viewer.export import ModelCard  # noqa: E402
from viewer.io import open_image  # noqa: E402
from viewer.render import DEFAULTS, compose_panels, heatmap, overlay, with_colorbar  # noqa: E402
from viewer.render.panels import WARNING_BACKGROUND  # noqa: E402

DEMO = resource_path("demo", "demo_cr_nodule.dcm")
DEMO_MODEL = resource_path("models", "demo_phantom_cnn.keras")


def explain(capsys, out: Path, *argv) -> dict:
    code, stdout, err = run_cli(capsys, "explain", DEMO, "--out", out, *argv)
    assert code == 0, err
    (line,) = [json.loads(text) for text in stdout.splitlines()]
    return line


def has_warning_bar(pixels: np.ndarray) -> bool:
    """A full-width row in the NOT FOR DIAGNOSIS red."""
    return bool(np.all(pixels[:, :, :3] == WARNING_BACKGROUND, axis=2).all(axis=1).any())


def expected_overlay(line: dict, cam: np.ndarray, model: str, warning: str | None) -> np.ndarray:
    """The overlay export drawn here from its parts, with the caption written out in full."""
    base = open_image(DEMO).render()
    score = max(p["score"] for p in line["predictions"])
    target = line["target"]["name"]
    text = (f"Grad-CAM · {target} {score:.3f} · model {model}\n"
            f"CAM threshold {DEFAULTS.cam_threshold:.2f} · decision threshold ({target}) 0.50")
    drawn = overlay(base, cam, DEFAULTS.cam_threshold, DEFAULTS.opacity, DEFAULTS.colormap, DEFAULTS.contour)
    return compose_panels([with_colorbar(drawn, DEFAULTS.colormap, DEFAULTS.cam_threshold)], caption=text,
                          warning=warning)


def test_a_synthetic_models_overlay_export_says_what_it_is_and_not_for_diagnosis(capsys, tmp_path):
    line = explain(capsys, tmp_path)
    cam = np.load(tmp_path / "demo_cr_nodule_cam.npy")
    exported = np.asarray(Image.open(tmp_path / "demo_cr_nodule_overlay.png"))
    assert np.array_equal(exported, expected_overlay(line, cam, "demo_phantom_cnn", "NOT FOR DIAGNOSIS"))
    for panel in ("heatmap", "overlay", "panels"):
        pixels = np.asarray(Image.open(tmp_path / f"demo_cr_nodule_{panel}.png"))
        assert has_warning_bar(pixels), panel
    heat = np.asarray(Image.open(tmp_path / "demo_cr_nodule_heatmap.png"))
    assert np.array_equal(heat[:1024, :1024], heatmap(cam))  # the map itself, then its colour bar on the right
    assert heat.shape[1] > 1024
    assert json.loads((tmp_path / "demo_cr_nodule.json").read_text())["not_for_diagnosis"] is True


def test_a_model_that_does_not_say_so_gets_no_warning_but_its_name(capsys, tmp_path):
    model = tmp_path / "model" / "chest_cnn.keras"
    model.parent.mkdir()
    shutil.copy(DEMO_MODEL, model)
    sidecar = json.loads(Path(f"{DEMO_MODEL}.json").read_text())
    sidecar["description"] = "A chest radiograph classifier."
    Path(f"{model}.json").write_text(json.dumps(sidecar))
    line = explain(capsys, tmp_path / "out", "--model", model)
    cam = np.load(tmp_path / "out" / "demo_cr_nodule_cam.npy")
    exported = np.asarray(Image.open(tmp_path / "out" / "demo_cr_nodule_overlay.png"))
    assert not has_warning_bar(exported)
    assert np.array_equal(exported, expected_overlay(line, cam, "chest_cnn", None))


def test_the_dicom_secondary_capture_carries_the_caption_bar_and_warning(capsys, tmp_path):
    explain(capsys, tmp_path, "--dicom-sc")
    ds = pydicom.dcmread(tmp_path / "demo_cr_nodule_overlay_sc.dcm")
    described = str(ds.DerivationDescription)
    for words in ("demo_phantom_cnn", "Grad-CAM", "nodule", f"CAM threshold {DEFAULTS.cam_threshold:.2f}",
                  "decision threshold (nodule) 0.50", "NOT FOR DIAGNOSIS"):  # the study's top label is the target
        assert words in described, words
    pixels = ds.pixel_array
    assert ds.BurnedInAnnotation == "YES" and ds.Columns > 1024 and has_warning_bar(pixels)


@pytest.mark.parametrize("description", ["SYNTHETIC demo", "For research use only", "A chest classifier", "",
                                         "Not for clinical decisions"])
def test_exports_use_the_viewers_not_for_diagnosis_rule(description):
    info = ModelInfo(path=Path("m.keras"), name="m", description=description, input_size=(8, 8), channels=1,
                     labels=["a"], targets=["a"], thresholds={}, device="CPU", layers=[], default_layer="",
                     load_ms=0.0, sha256="", unsafe=False)
    assert ModelCard.of(info).not_for_diagnosis == info.not_for_diagnosis()


def test_an_export_from_the_viewer_and_from_the_cli_with_defaults_are_pixel_identical(qtbot, capsys, tmp_path):
    from PySide6.QtCore import QSettings

    from viewer.ui.export_dialog import ExportOptions
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import Settings

    explain(capsys, tmp_path / "cli")
    win = MainWindow(Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat)))
    win.headless = True
    qtbot.addWidget(win)
    win.resize(1400, 800)
    win.show()
    try:
        with qtbot.waitSignal(win.explanationShown, timeout=120_000):
            win.load_model(DEMO_MODEL)
            win.open_paths([DEMO])
        qtbot.waitUntil(lambda: not win.model_thread.busy() and not win.io_thread.busy(), timeout=120_000)
        folder = tmp_path / "viewer"
        folder.mkdir()
        with qtbot.waitSignal(win.io_thread.finished, timeout=120_000):
            win.exporting.export(ExportOptions(folder=folder))  # the dialog's defaults: the side-by-side panels
    finally:
        win.shutdown()
    from_viewer = np.asarray(Image.open(folder / "demo_cr_nodule_panels.png"))
    from_cli = np.asarray(Image.open(tmp_path / "cli" / "demo_cr_nodule_panels.png"))
    assert from_viewer.shape == from_cli.shape and np.array_equal(from_viewer, from_cli)


@pytest.mark.parametrize("as_format", [True, False], ids=["dicom-format", "dicom-panels"])
def test_an_all_findings_overlay_in_dicom_is_described_as_all_findings(tmp_path, as_format):
    # The overlay's pixels are All findings: its DICOM description must not name only the one target.
    from viewer.cam.base import CamResult, Target
    from viewer.export import OverlayStyle, write_explanation

    image = open_image(DEMO)
    base = image.render()
    cam = np.zeros(base.shape[:2], np.float32)
    result = CamResult(cam, cam, [{"index": 0, "name": "nodule", "score": 0.9}], Target(0, "nodule"), "conv",
                       "gradcam", "cpu", {})
    said = "All findings (nodule 0.900, consolidation 0.800) · Grad-CAM · model m\nCAM threshold 0.40 · x"
    kwargs = ({"panels": ("overlay",), "fmt": "dicom"} if as_format else
              {"panels": ("heatmap",), "dicom_panels": ("overlay",)})
    files = write_explanation(tmp_path, "e", image, base, result, "m", OverlayStyle(), sidecar=False,
                              overlay_image=np.full((*base.shape[:2], 3), 90, np.uint8), overlay_caption=said,
                              **kwargs)
    (sc,) = [f for f in files if f.suffix == ".dcm"]
    described = str(pydicom.dcmread(sc).DerivationDescription)
    assert described.startswith("RadCAM Overlay: All findings (nodule 0.900, consolidation 0.800)"), described
    assert "CAM threshold 0.40 · x" in described
