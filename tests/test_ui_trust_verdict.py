"""The Trust tab shows one verdict (issue 17): its words and colour, the reasons under it, the measures one click
away, ROAD beside blur deletion, and every label's map for a model with more than one label."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import main_window  # noqa: E402

from viewer.trust.verdict import VERDICTS, judge_report  # noqa: E402
from viewer.ui.trust_panel import GOOD, TrustPanel  # noqa: E402

JOB_TIMEOUT_MS = 120_000  # the first job imports TensorFlow


def road(morf: float, lerf: float) -> dict:
    return {"percentiles": [0.2, 0.4, 0.6, 0.8], "morf": [morf] * 4, "lerf": [lerf] * 4, "morf_mean": morf,
            "lerf_mean": lerf, "combined": (lerf - morf) / 2, "noise": 0.01 * 255}


def scores(deletion: float, insertion: float, morf: float, lerf: float) -> dict:
    fractions = [i / 4 for i in range(5)]
    return {"curves": {"deletion_auc": deletion, "insertion_auc": insertion, "fractions": fractions,
                       "deletion": [1 - f for f in fractions], "insertion": fractions},
            "confidence": {"score": 0.9, "masked_score": 0.5, "average_drop": 0.4, "increase": False},
            "pointing": None, "road": road(morf, lerf)}


def report(deletion: float, morf: float, lerf: float, sanity: str | None = "pass") -> dict:
    """A to_dict() report of one map beside a random and an edge map, judged by viewer.trust.verdict."""
    check = {"verdict": sanity, "explanation": "|ρ| 0.10 < 0.5: it changed", "spearman": 0.1, "ssim": 0.2,
             "threshold": 0.5, "layers": ["dense"]}
    found = {"method": "gradcam", **scores(deletion, 0.6, morf, lerf),
             "randomisation": None if sanity is None else check,
             "baselines": {"random": scores(0.75, 0.3, 0.50, 0.52), "edge": scores(0.60, 0.3, 0.45, 0.50)}}
    found.update(judge_report(found))
    return found


CASES = {  # verdict → the map's (deletion AUC, ROAD MoRF, ROAD LeRF, sanity)
    "faithful": (0.10, 0.10, 0.80, "pass"),
    "not-faithful": (0.98, 0.60, 0.55, "pass"),  # a random map beats it under both fills
    "inconclusive": (0.98, 0.10, 0.80, "pass"),  # blur: random beats it; ROAD: it beats both
    "model-independent": (0.10, 0.10, 0.80, "fail"),
}


@pytest.fixture
def panel(qtbot):
    widget = TrustPanel()
    qtbot.addWidget(widget)
    widget.resize(320, 900)
    widget.show()
    return widget


def test_the_badge_shows_the_verdict_in_words_and_is_green_only_for_a_faithful_map(panel):
    words = {}
    for verdict, (deletion, morf, lerf, sanity) in CASES.items():
        checked = report(deletion, morf, lerf, sanity)
        assert checked["verdict"] == verdict  # the cases are what they say (viewer.trust.verdict decides)
        panel.set_report(checked, "Grad-CAM", "nodule")
        assert not panel.badge.isHidden() and panel.verdict == verdict
        words[verdict] = panel.badge.text()
        assert (panel.badge_colour() == GOOD) == (verdict == "faithful"), verdict
        # the reasons, with their numbers, are under the badge without opening the details
        assert checked["verdict_reasons"][0] in panel.reasons.text() and not panel.reasons.isHidden()
        assert "Grad-CAM" in panel.heading.text()
    assert set(words) == set(VERDICTS) and len(set(words.values())) == 4
    assert words["faithful"].startswith("FAITHFUL") and words["not-faithful"].startswith("NOT FAITHFUL")
    assert "RANDOM" not in words["faithful"] and "INCONCLUSIVE" in words["inconclusive"]
    # The old sanity badge is gone: a passing sanity check over a map that random beats is not green.
    panel.set_report(report(0.98, 0.60, 0.55, "pass"), "Score-CAM")
    assert panel.badge_colour() != GOOD and "DEPENDS ON THE MODEL" not in panel.badge.text()


def test_a_report_without_a_verdict_or_road_is_never_green(panel):
    old = report(0.10, 0.10, 0.80)
    for key in ("verdict", "verdict_reasons", "road"):
        old.pop(key)
    panel.set_report(old)
    assert panel.badge.text() == "NO VERDICT" and panel.badge_colour() != GOOD
    assert "Not measured" in panel.road_text.text()


def test_details_hold_blur_road_sanity_and_pointing_one_click_away(panel, qtbot):
    from PySide6.QtCore import Qt

    panel.set_report(report(0.10, 0.10, 0.80), "Grad-CAM")
    assert panel.details.isHidden() and not panel.details_shown()
    qtbot.mouseClick(panel.details_button, Qt.MouseButton.LeftButton)
    assert panel.details.isVisible() and panel.plot.isVisible() and panel.road_text.isVisible()
    road_text = panel.road_text.text()
    # ROAD: the map and both baselines, MoRF / LeRF means and combined
    for figure in ("0.100", "0.800", "0.350", "0.500", "0.520", "0.010", "0.450", "0.025"):
        assert figure in road_text, figure
    assert ">random<" in road_text and ">edge<" in road_text and "20%–80%" in road_text
    assert "0.750" in panel.curve_text.text() and "Passed" in panel.sanity_text.text()
    assert "&lt; 0.5: it changed" in panel.sanity_text.text()  # shown as text: a bare "<" cut the rich text
    assert "Draw a box" in panel.pointing_text.text()
    # Nothing is wider than the tab (the horizontal scroll bar is off: a wider row was cut at the right edge).
    qtbot.waitUntil(lambda: panel.scroll_area.verticalScrollBar().isVisible())
    assert panel.scroll_area.widget().minimumSizeHint().width() <= panel.scroll_area.viewport().width()
    qtbot.mouseClick(panel.details_button, Qt.MouseButton.LeftButton)
    assert panel.details.isHidden()


def test_the_class_section_lists_every_label_and_the_class_sensitivity(panel):
    checked = report(0.10, 0.10, 0.80)
    panel.set_report(checked, "Grad-CAM", "nodule")
    assert panel.classes.isHidden()  # no "classes": a single-label model
    checked["classes"] = {
        "method": "gradcam", "layer": "conv", "labels": ["nodule", "consolidation"],
        "scores": {"nodule": 0.93, "consolidation": 0.71}, "peaks": {"nodule": [120, 80], "consolidation": None},
        "correlations": {"nodule|consolidation": 0.12}, "distances": {"nodule|consolidation": None},
        "top": "nodule", "bottom": "consolidation", "sensitivity": 0.12,
        "pointing": {"nodule": {"own": True, "other": False}, "consolidation": {"own": False, "other": False}}}
    panel.set_report(checked, "Score-CAM", "nodule")
    text = panel.class_text.text()
    assert not panel.classes.isHidden()
    assert "<b>nodule ◀</b>" in text and "consolidation" in text and "0.93" in text and "120, 80" in text
    assert "r = <b>0.12</b>" in text and "peak in box" in text and "<b>yes</b>" in text
    assert "compared through Grad-CAM" in text  # Score-CAM has no batched pass over the labels


def test_the_details_stay_open_once_opened(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from viewer.ui.settings import Settings

    settings = Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat))
    with main_window(qtbot, tmp_path, settings=settings) as window:
        assert not window.trust_panel.details_shown()
        window.trust_panel.show_details(True)
    with main_window(qtbot, tmp_path, settings=settings) as window:
        assert window.trust_panel.details_shown() and not window.trust_panel.details.isHidden()


def test_a_real_check_on_the_two_label_demo_model_fills_the_verdict_and_the_classes(qtbot, tmp_path):
    from viewer.assets import demo_studies
    from viewer.model import default_model_path

    with main_window(qtbot, tmp_path) as window:
        with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
            window.load_model(default_model_path())
            window.open_paths(demo_studies()[:1])
        qtbot.waitUntil(lambda: not window.model_thread.busy() and not window.io_thread.busy(),
                        timeout=JOB_TIMEOUT_MS)
        panel = window.trust_panel
        window.side_tabs.setCurrentWidget(panel)
        assert panel.badge.isHidden() and panel.classes.isHidden()
        cam = window.state.explanation.result.cam  # a box around the map's peak: the map on screen points into it
        peak_y, peak_x = np.unravel_index(int(np.argmax(cam)), cam.shape)
        window.trust.set_box((int(peak_x) - 30, int(peak_y) - 30, 60, 60))
        with qtbot.waitSignal(window.model_thread.finished, timeout=JOB_TIMEOUT_MS,
                              check_params_cb=lambda _id, kind, _result: kind == "trust"):
            window.trust.check()
        checked = window.trust.report
        assert checked["verdict"] in VERDICTS and checked["verdict_reasons"]
        assert panel.verdict == checked["verdict"] and panel.badge.isVisible()
        assert (panel.badge_colour() == GOOD) == (checked["verdict"] == "faithful")
        classes = checked["classes"]
        labels = list(window.state.model.labels)
        assert classes["labels"] == labels and len(labels) == 2 and classes["method"] == "gradcam"
        assert panel.classes.isVisible() and all(label in panel.class_text.text() for label in labels)
        target = window.state.explanation.result.target.name
        assert f"<b>{target} ◀</b>" in panel.class_text.text()
        assert classes["pointing"][target]["own"] is True and "peak in box" in panel.class_text.text()
        # A box drawn after the check is pointed into at once from the peaks (no model): here, far from them.
        jobs = window.model_thread.submitted
        window.trust.set_box((0, 0, 20, 20))
        assert window.trust.report["classes"]["pointing"][target] == {"own": False, "other": False}
        assert "<b>yes</b>" not in panel.class_text.text() and window.model_thread.submitted == jobs
        window.trust.set_box(None)
        assert "peak in box" not in panel.class_text.text()


def test_the_screenshot_script_says_a_bad_input_in_one_line_before_the_work(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_trust_screenshot.py"
    for argv in (["--model", str(tmp_path / "absent.h5")], [str(tmp_path / "no" / "trust.png")]):
        done = subprocess.run([sys.executable, str(script), *argv, "--image", __file__], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("make_trust_screenshot: error:")


def test_the_trust_job_compares_the_labels_through_grad_cam_for_a_method_without_the_batched_pass():
    from viewer.app import ExplainKey, Quiet, TrustRequest
    from viewer.app.session import ModelSession
    from viewer.assets import demo_studies
    from viewer.io import open_image
    from viewer.model import default_model_path

    session = ModelSession()
    session.load(default_model_path(), False, Quiet())
    pixels = open_image(demo_studies()[0]).render()[::4, ::4].copy()
    found = {}
    for method in ("hirescam", "eigencam"):  # HiResCAM shares the pass; Eigen-CAM would need a map per label
        result = session.engine.explain(pixels, method=method)
        key = ExplainKey("demo", 0, method, None, None, None)
        found[method] = session.check(TrustRequest(key=key, pixels=pixels, result=result, region=None), Quiet())[1]
    assert found["hirescam"]["classes"]["method"] == "hirescam"
    assert found["eigencam"]["classes"]["method"] == "gradcam"
    assert all(report["verdict"] in VERDICTS and report["classes"]["pointing"] == {
        label: None for label in report["classes"]["labels"]} for report in found.values())
