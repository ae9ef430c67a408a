"""`radcam-cli bench`: real runs on the demo model (no mocks): every figure present and finite, ratios that are the
figures they divide, reference recipes that give RadCAM's map, and the measuring helpers."""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from viewer.bench import GOALS, RATIOS
from viewer.bench.measure import peak_extra_mb, pearson, run_child, time_ms, time_rounds
from viewer.errors import RadcamError
from viewer.model import default_model_path

VIEWER_FIGURES = ("dicom_open_ms", "dicom_open_j2k_ms", "dicom_j2k_over_uncompressed", "window_level_ms",
                  "overlay_render_ms", "overlay_render_cold_ms", "first_window_ms", "first_heatmap_ms",
                  "first_heatmap_over_first_window", "next_image_map_ms", "next_image_map_cold_ms",
                  "next_image_map_over_cold", "worklist_open_10000_ms")
MODEL_FIGURES = (
    "forward_ms", "gradcam_ms", "gradcam_over_forward", "gradcam_preprocess_ms", "gradcam_map_ms",
    "gradcam_map_over_forward", "gradcam_new_image_ms", "gradcam_new_image_over_forward", "reference_gradcam_ms",
    "gradcam_over_reference", "reference_gradcam_correlation",
    "forward_best_batch_ms", "forward_per_image_ms", "scorecam_ms", "scorecam_over_forward_batch",
    "reference_scorecam_ms", "scorecam_over_reference", "reference_scorecam_correlation", "scorecam_peak_extra_mb",
    "reference_scorecam_peak_extra_mb", "scorecam_peak_extra_over_reference", "faster_scorecam_ms",
    "faster_scorecam_over_gradcam", "retraces_while_timed", "trust_check_ms", "trust_forward_ms",
    "trust_check_forwards", "trust_baselines_ms", "trust_baselines_forwards", "trust_first_check_ms",
    "trust_first_check_forwards",
)


@pytest.fixture(scope="module")
def report():
    """One `radcam-cli bench --json` on the demo model, once for the module (about 40 s on 2 cores)."""
    from viewer.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["bench", "--json", "--model", str(default_model_path()), "--repeat", "1"])
    assert code == 0, err.getvalue()[-2000:]
    print(f"\nbench --json on the demo model, --repeat 1: {time.perf_counter() - start:.1f} s")
    return json.loads(out.getvalue())


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.slow
def test_json_has_the_machine_and_one_object(report):
    machine = report["machine"]
    assert machine["device"] == "CPU" or machine["device"].startswith("GPU")
    assert machine["tensorflow"] and machine["keras"]
    assert machine["cpu_count"] >= 1 and 1 <= machine["cpus_available"] <= machine["cpu_count"]
    assert report["timestamp"] and report["repeat"] == 1 and report["wall_s"] > 0
    assert [m["name"] for m in report["models"]] == ["demo_phantom_cnn"]


@pytest.mark.slow
def test_every_figure_is_present_and_finite(report):
    viewer = report["viewer"]["figures"]
    assert [k for k in VIEWER_FIGURES if not _finite(viewer.get(k))] == []
    model = report["models"][0]
    figures = model["figures"]
    assert [k for k in MODEL_FIGURES if not _finite(figures.get(k))] == [], model["notes"]
    assert all(figures[k] > 0 for k in MODEL_FIGURES if k.endswith("_ms"))
    assert model["scorecam_channels"] == 64 and model["faster_scorecam_channels"] == 32
    assert model["layer"] == "block4_relu" and model["display_size"] == [1024, 1024]
    assert figures["retraces_while_timed"] == 0  # fixed signatures: timing never traces again


@pytest.mark.slow
def test_ratios_are_the_figures_they_divide(report):
    for section in (report["viewer"], *report["models"]):
        figures = section["figures"]
        for name, (numerator, denominator) in RATIOS.items():
            if name in figures:
                assert figures[name] == pytest.approx(figures[numerator] / figures[denominator], rel=1e-9), name
    model = report["models"][0]
    figures = model["figures"]
    assert figures["forward_per_image_ms"] == pytest.approx(
        figures["forward_best_batch_ms"] / model["best_batch_size"], rel=1e-9)
    assert figures["scorecam_over_forward_batch"] == pytest.approx(
        figures["scorecam_ms"] / (model["scorecam_channels"] * figures["forward_per_image_ms"]), rel=1e-9)
    assert model["forward_per_image_ms_by_batch"][str(model["best_batch_size"])] == pytest.approx(
        min(model["forward_per_image_ms_by_batch"].values()))


@pytest.mark.slow
def test_references_give_radcams_map_and_goals_are_judged(report):
    model = report["models"][0]
    assert model["figures"]["reference_gradcam_correlation"] > 0.99
    assert model["figures"]["reference_scorecam_correlation"] > 0.99
    for section in (report["viewer"], model):
        for name, goal in section["goals"].items():
            assert name in GOALS and isinstance(goal["met"], bool)
            op, limit = GOALS[name]
            value = section["figures"][name]
            assert goal["met"] == (value <= limit if op == "<=" else value > limit)
    memory = model["scorecam_memory"]
    assert memory["radcam"]["peak_extra_mb"] == model["figures"]["scorecam_peak_extra_mb"]
    assert memory["radcam"]["peak_method"].startswith("VmHWM")


@pytest.mark.slow
def test_table_shows_each_figure_its_ratio_and_goal(report):
    from viewer.cli.bench import format_table

    table = format_table(report)
    for text in ("Grad-CAM", "reference Grad-CAM (Keras tutorial)", "Score-CAM, 64 channels",
                 "reference Score-CAM (naive per-channel loop)", "Faster Score-CAM, N = 32", "window/level 2048x2048",
                 "process start to main window", "<= 1.3", "<= 0.2", "<= 1536", "TensorFlow",
                 "trust check of one map", "<= 60"):
        assert text in table, text
    grad = next(line for line in table.splitlines() if line.strip().startswith("Grad-CAM"))
    assert f"{report['models'][0]['figures']['gradcam_over_forward']:.3g} / forward pass" in grad
    assert grad.rstrip().endswith(("yes", "NO"))


def test_trust_check_cost_is_counted_in_forward_passes():
    """The goal's figure is one map of an image whose baselines are already scored (issue 17: "per map, with the
    baselines reused across methods"), timed in the same rounds as the forward pass; the baselines (once per image
    and target) and the first map with them beside it, and each part in forward passes."""
    import warnings

    from viewer.bench.suite import benchmark_image
    from viewer.bench.trust_cost import PARTS, add_trust_figures
    from viewer.model import load_model

    display, _ = benchmark_image()
    result: dict = {"figures": {}, "runs": {}, "calls_per_sample": {}, "notes": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        add_trust_figures(result, load_model(default_model_path()), display, repeat=2)
    figures = result["figures"]
    print(f"\ntrust check of one map: {figures['trust_check_forwards']:.0f} forward passes, its baselines "
          f"{figures['trust_baselines_forwards']:.0f}, the first map {figures['trust_first_check_forwards']:.0f}; "
          + ", ".join(f"{name} {figures[f'trust_{name}_forwards']:.1f}" for name in PARTS))
    for name in ("check", "baselines", "first_check"):
        assert figures[f"trust_{name}_forwards"] == pytest.approx(
            figures[f"trust_{name}_ms"] / figures["trust_forward_ms"])
        assert result["runs"][f"trust_{name}_ms"] == 2
    # per round, the baselines' sample plus the map's: over two rounds the median of the sums is the sum of medians
    assert figures["trust_first_check_ms"] == pytest.approx(figures["trust_baselines_ms"] + figures["trust_check_ms"])
    assert figures["trust_baselines_forwards"] > figures["trust_check_forwards"]  # two maps' measures, no sanity
    assert all(_finite(figures[f"trust_{name}_forwards"]) and figures[f"trust_{name}_forwards"] > 0 for name in PARTS)
    assert figures["trust_road_imputation_forwards"] < figures["trust_road_forwards"]
    assert "already scored" in result["notes"]["trust_check_forwards"]


def test_reference_recipes_give_the_same_maps_as_radcam():
    import warnings

    from viewer.bench.reference import NaiveScoreCam, TutorialGradCam
    from viewer.bench.suite import benchmark_image
    from viewer.cam import CamEngine
    from viewer.model import load_model

    display, _ = benchmark_image()
    display = display[::4, ::4].copy()  # 256x256: the same recipe, less work
    loaded = load_model(default_model_path())
    engine = CamEngine(loaded)
    layer = engine.default_layer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grad = TutorialGradCam(loaded, layer)(display)
        score = NaiveScoreCam(loaded, layer)(display)
    assert grad.shape == score.shape == display.shape
    assert pearson(engine.explain(display, method="gradcam").cam, grad) > 0.99
    assert pearson(engine.explain(display, method="scorecam").cam, score) > 0.99


def test_timers_take_the_median_and_cap_slow_figures():
    calls = []
    timing = time_ms(lambda: calls.append(1), repeat=5, warmup=2)
    assert len(calls) == 7 and timing.runs == 5 and timing.median_ms >= 0
    slow = time_ms(lambda: time.sleep(0.002), repeat=5, slow_ms=1.0)
    assert slow.runs == 3 and slow.median_ms >= 2.0
    order = []
    rounds = time_rounds({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeat=3)
    assert order == ["a", "b", "b", "a", "a", "b"]  # rotated: neither always runs after the other
    assert rounds["a"].runs == rounds["b"].runs == 3


def test_a_sample_is_the_mean_of_enough_calls_to_last_sample_ms():
    calls = []

    def nap():
        calls.append(1)
        time.sleep(0.002)

    timing = time_ms(nap, repeat=3, warmup=1, sample_ms=30.0)
    assert 1 <= timing.calls_per_sample <= 15  # a call takes at least 2 ms
    assert len(calls) == 1 + 1 + 3 * timing.calls_per_sample  # warm-up, the calibrating call, the samples
    assert timing.runs == 3 and timing.median_ms >= 2.0  # per call, not per sample
    names = []
    rounds = time_rounds({"a": lambda: names.append("a"), "b": lambda: names.append("b")}, repeat=2, sample_ms=1.0)
    per_sample = rounds["a"].calls_per_sample
    assert per_sample > 1 and names.count("a") == 1 + 2 * per_sample  # an empty call: many to a sample


def test_a_child_measurement_reports_its_last_json_line_or_fails_in_one_line():
    code = "import json; print('noise'); print(json.dumps({'a': 1})); print(json.dumps({'a': 2}))"
    assert run_child(["-c", code], "the probe", 60) == {"a": 2}
    with pytest.raises(RadcamError, match=r"^the probe failed \(exit 3\): boom$"):
        run_child(["-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], "the probe", 60)
    with pytest.raises(RadcamError, match=r"^the probe failed \(exit 0\)"):
        run_child(["-c", "print('no report')"], "the probe", 60)
    with pytest.raises(RadcamError, match=r"^the probe did not finish in 0.5 s$"):
        run_child(["-c", "import time; time.sleep(30)"], "the probe", 0.5)


def test_pearson():
    a = np.random.default_rng(0).random((32, 32))
    assert pearson(a, 3 * a + 1) == pytest.approx(1.0)
    assert pearson(a, -a) == pytest.approx(-1.0)
    assert pearson(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
    assert math.isnan(pearson(np.zeros((4, 4)), a[:4, :4]))
    with pytest.raises(ValueError):
        pearson(a, a[:4])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's clear_refs")
def test_peak_memory_sees_a_temporary_allocation():
    def allocate():
        block = np.ones(200 * 2**20 // 8)  # 200 MB, touched, then freed
        return float(block[-1])

    measured = peak_extra_mb(allocate)
    assert 180 <= measured["peak_extra_mb"] <= 400, measured


def test_a_missing_model_is_one_line(capsys, tmp_path):
    code, _out, err = run_cli(capsys, "bench", "--model", tmp_path / "missing.keras")
    assert_one_line_error(code, err)
    assert "missing.keras" in err


def test_repeat_must_be_positive(capsys):
    code, _out, err = run_cli(capsys, "bench", "--repeat", "0")
    assert_one_line_error(code, err)


def test_importing_the_benchmark_loads_neither_tensorflow_nor_qt():
    code = ("import sys, viewer.bench, viewer.bench.reference, viewer.bench.models, viewer.bench.display, "
            "viewer.bench.startup, viewer.bench.worklist, viewer.cli.bench;"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'PySide6'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
