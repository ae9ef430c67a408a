"""Every finding at once (issue 16, parts 1 and 7): one batched pass, one map per finding above its decision
threshold, drawn as labelled contours in colour-blind-safe colours; the CLI's --all-findings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

keras = pytest.importorskip("keras")
layers = keras.layers

from viewer.assets import resource_path  # noqa: E402
from viewer.cam import CamEngine  # noqa: E402
from viewer.cam.multi import SHARED_PASS, above_threshold, explain_findings  # noqa: E402
from viewer.model import default_model_path, load_model  # noqa: E402
from viewer.render.findings import OKABE_ITO, draw_findings, finding_colour  # noqa: E402

CHEXNET_LABELS = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
                  "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"]


@pytest.fixture(scope="module")
def chexnet_shaped(tmp_path_factory):
    """A CheXNet-shaped model (14 sigmoid labels, a conv trunk, global pooling) with sidecar thresholds: 0 for
    every other label (always a finding), 1 for the rest (never one), so the findings are known."""
    folder = tmp_path_factory.mktemp("chexnet_shaped")
    keras.utils.set_random_seed(7)
    inputs = keras.Input((64, 64, 1))
    x = layers.Conv2D(8, 3, activation="relu", name="c1")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, activation="relu", name="c2")(x)
    x = layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, layers.Dense(14, activation="sigmoid", name="out")(x)).save(folder / "chexnet.keras")
    thresholds = {label: 0.0 if i % 2 == 0 else 1.0 for i, label in enumerate(CHEXNET_LABELS)}
    (folder / "chexnet.keras.json").write_text(json.dumps({"labels": CHEXNET_LABELS, "thresholds": thresholds,
                                                           "layer": "c2", "input_size": [64, 64]}))
    return CamEngine(load_model(folder / "chexnet.keras"))


@pytest.fixture(scope="module")
def display():
    return np.random.default_rng(3).integers(0, 256, (90, 80), dtype=np.uint8)


@pytest.mark.parametrize("method", SHARED_PASS)
def test_batched_findings_equal_one_call_per_finding(chexnet_shaped, display, method):
    engine = chexnet_shaped
    found = explain_findings(engine, display, method)
    assert found.shared_pass
    assert [f.target.name for f in found.findings] == sorted(
        CHEXNET_LABELS[::2], key=lambda name: -found.predictions[CHEXNET_LABELS.index(name)]["score"])
    for finding in found.findings:
        single = engine.explain(display, method=method, target=finding.target.name)
        assert single.target == finding.target
        np.testing.assert_allclose(finding.result.cam, single.cam, atol=1e-5)
        assert finding.score == pytest.approx(single.predictions[finding.target.unit]["score"], abs=1e-6)
        assert finding.threshold == 0.0


def test_one_trace_for_any_number_of_findings(chexnet_shaped, display):
    engine = chexnet_shaped
    scores = [p["score"] for p in engine.predict(display)]
    explain_findings(engine, display)
    explain_findings(engine, display, scores=scores)  # only the 7 findings' logits: same signature
    explain_findings(engine, np.zeros((64, 64), np.uint8))
    assert engine.trace_counts[("multi_gradients", "c2")] == 1


def test_methods_without_a_shared_pass_fall_back_to_one_call_per_finding(chexnet_shaped, display):
    engine = chexnet_shaped
    found = explain_findings(engine, display, "eigencam")
    assert not found.shared_pass and len(found.findings) == 7
    single = engine.explain(display, method="eigencam", target=found.findings[0].target.name)
    np.testing.assert_array_equal(found.findings[0].result.cam, single.cam)


def test_fallback_uses_the_explanations_top_n(chexnet_shaped, display):
    # --top-n / the session's top_n reach each finding's call: the target's map equals the one in its panels.
    engine = chexnet_shaped
    found = explain_findings(engine, display, "faster-scorecam", top_n=2, batch_size=4)
    first = found.findings[0]
    single = engine.explain(display, method="faster-scorecam", target=first.target.name, top_n=2)
    np.testing.assert_array_equal(first.result.cam, single.cam)
    wider = engine.explain(display, method="faster-scorecam", target=first.target.name)  # top_n 32: all 16
    assert not np.array_equal(first.result.cam, wider.cam)


def test_no_finding_above_its_threshold_gives_no_map(tmp_path, display):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((32, 32, 1))
    x = layers.Conv2D(4, 3, activation="relu", name="c")(inputs)
    keras.Model(inputs, layers.Dense(2, activation="sigmoid")(layers.GlobalAveragePooling2D()(x))).save(
        tmp_path / "m.keras")
    (tmp_path / "m.keras.json").write_text(json.dumps({"labels": ["a", "b"], "thresholds": {"a": 1.0, "b": 1.0}}))
    engine = CamEngine(load_model(tmp_path / "m.keras"))
    assert explain_findings(engine, display).findings == ()
    assert above_threshold(engine.model, np.array([0.99, 0.2])) == []


# ---- drawing ----

def _disc(shape, centre, radius):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return np.clip(1.0 - np.hypot(yy - centre[0], xx - centre[1]) / radius, 0, 1).astype(np.float32)


def test_each_finding_is_a_contour_in_its_own_okabe_ito_colour_with_a_legend():
    base = np.full((400, 400), 128, np.uint8)
    items = [("Effusion", 0.91, _disc(base.shape, (100, 100), 60)), ("Nodule", 0.62, _disc(base.shape, (260, 300), 60))]
    out = draw_findings(base, items, 0.5)
    assert out.shape == (400, 400, 3) and out.dtype == np.uint8
    for rank in range(2):
        colour = np.array(finding_colour(rank))
        hits = np.argwhere((out == colour).all(axis=2))
        assert len(hits) > 50, rank
    first = np.argwhere((out[:300] == np.array(finding_colour(0))).all(axis=2))  # above the legend
    second = np.argwhere((out[:300] == np.array(finding_colour(1))).all(axis=2))
    # each outline runs round its own region: its ring lies 30 px (CAM = 0.5) from its centre
    assert np.median(np.hypot(*(first - [100, 100]).T)) == pytest.approx(30, abs=6)
    assert np.median(np.hypot(*(second[second[:, 0] > 200] - [260, 300]).T)) == pytest.approx(30, abs=6)
    legend = out[300:, :200]
    assert (legend == np.array(finding_colour(0))).all(axis=2).any()  # the legend's swatches and text
    assert (legend == np.array(finding_colour(1))).all(axis=2).any()
    np.testing.assert_array_equal(base, 128)  # the original is not drawn on


def test_a_caption_of_fourteen_findings_stays_legible():
    # Each caption line is a bar shrunk to the panel's width: all 14 on one line drew ~4 px text at 1024 px.
    import cv2

    from viewer.render.findings import findings_caption
    from viewer.render.panels import FONT, ascii_text, font_scale

    items = [(label, 0.9 - i / 100, np.zeros((4, 4), np.float32)) for i, label in enumerate(CHEXNET_LABELS)]
    text = findings_caption(items, "Grad-CAM", "chexnet", 0.4, {label: 0.25 for label in CHEXNET_LABELS})
    scale = font_scale(1024)
    for line in text.splitlines():
        width = cv2.getTextSize(ascii_text(line), FONT, scale, max(1, round(scale * 1.5)))[0][0]
        assert width < 1000, line  # drawn at full size, not shrunk
    for label in CHEXNET_LABELS:
        assert f"{label} {0.9 - CHEXNET_LABELS.index(label) / 100:.3f}" in text and f"{label} 0.25" in text
    assert text.startswith("All findings (14) · Grad-CAM · model chexnet") and "CAM threshold 0.40" in text


def test_palette_is_okabe_ito_without_black():
    assert [rgb for _, rgb in OKABE_ITO] == [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
                                             (213, 94, 0), (204, 121, 167), (0, 114, 178)]
    assert finding_colour(7) == finding_colour(0)


# ---- radcam-cli explain --all-findings ----

def test_cli_all_findings_writes_the_findings_overlay(capsys, tmp_path):
    code, out, err = run_cli(capsys, "explain", "--demo", "--all-findings", "--out", str(tmp_path))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    by_name = {Path(line["image"]).name: line for line in lines}
    both = by_name["demo_cr_nodule.dcm"]
    assert sorted(f["name"] for f in both["findings"]) == ["consolidation", "nodule"]
    assert [f["score"] for f in both["findings"]] == sorted((f["score"] for f in both["findings"]), reverse=True)
    assert all(f["score"] >= f["decision_threshold"] == 0.5 for f in both["findings"])
    assert str(tmp_path / "demo_cr_nodule_findings.png") in both["outputs"]
    drawn = np.asarray(Image.open(tmp_path / "demo_cr_nodule_findings.png").convert("RGB"))
    assert drawn.shape[0] > 1024 and drawn.shape[1] == 1024  # the film, then its caption and warning bars
    assert (drawn[-20:, :, 0] > 150).mean() > 0.5 and (drawn[-20:, :, 1] < 60).mean() > 0.5  # NOT FOR DIAGNOSIS, red
    for rank in range(2):
        assert (drawn == np.array(finding_colour(rank))).all(axis=2).sum() > 100
    assert [f["name"] for f in by_name["demo_nodule.png"]["findings"]] == ["nodule"]


def default_demo():
    return resource_path("demo", "demo_nodule.png")


def test_cli_all_findings_refuses_an_existing_file_before_writing_anything(capsys, tmp_path):
    (tmp_path / "demo_nodule_findings.png").write_bytes(b"kept")
    code, _out, err = run_cli(capsys, "explain", str(default_demo()), "--all-findings", "--out", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "demo_nodule_findings.png" in err and "--overwrite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo_nodule_findings.png"]


def test_cli_without_all_findings_writes_no_findings_file(capsys, tmp_path):
    code, out, _err = run_cli(capsys, "explain", str(default_demo()), "--out", str(tmp_path))
    assert code == 0 and "findings" not in json.loads(out.splitlines()[0])
    assert not list(tmp_path.glob("*_findings.png"))


# ---- part 7: on the demo study with both lesions, is each finding drawn on its own lesion? ----

def _demo_findings():
    from viewer.io import open_image

    engine = CamEngine(load_model(default_model_path()))
    display = open_image(resource_path("demo", "demo_cr_nodule.dcm")).render()
    lesions = json.loads(resource_path("demo", "lesions.json").read_text())["demo_cr_nodule.dcm"]["lesions"]
    found = explain_findings(engine, display)  # what All findings draws: Grad-CAM at the default layer
    return {f.target.name: f.result.cam for f in found.findings}, {lesion["kind"]: lesion["box"] for lesion in lesions}


def _on_own_lesion(cam, box, threshold=0.5):
    """The map peaks inside the lesion's box and the contour at the CAM threshold covers at least half of it."""
    x, y, w, h = box
    py, px = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return x <= px < x + w and y <= py < y + h and float((cam[y:y + h, x:x + w] >= threshold).mean()) >= 0.5


@pytest.mark.xfail(strict=True, reason=(
    "the retrained demo model's consolidation map covers 57 % of the consolidation's box but peaks at (592, 272), "
    "7 px left of the box (under one 32-px map cell at this 1024-px study; within the pointing game's 15 px)"))
def test_demo_consolidation_is_drawn_on_the_consolidation():
    cams, boxes = _demo_findings()
    assert _on_own_lesion(cams["consolidation"], boxes["consolidation"])


def test_demo_nodule_is_drawn_on_the_nodule():
    cams, boxes = _demo_findings()
    assert _on_own_lesion(cams["nodule"], boxes["nodule"])


def test_no_finding_says_so_in_the_legend():
    base = np.full((300, 300), 128, np.uint8)
    out = draw_findings(base, [], 0.5)
    assert (out[200:, :] != 128).any() and (out[:150] == 128).all()  # a legend in the lower left, nothing else
