"""The whole benchmark in one run: the machine, the viewer figures and each model's figures, with the goals."""

from __future__ import annotations

import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .batch_explain import Explainer, add_batch_explain_figures
from .measure import SAMPLE_MS
from .prescan import Scan, add_prescan_figures

# figure -> (comparison, limit). Ratios are RadCAM's figure over the one named after "_over_".
GOALS: dict[str, tuple[str, float]] = {
    "gradcam_over_forward": ("<=", 1.3),
    "reference_gradcam_correlation": (">", 0.99),
    "gradcam_over_reference": ("<=", 0.5),
    "scorecam_over_forward_batch": ("<=", 1.2),
    "reference_scorecam_correlation": (">", 0.99),
    "scorecam_over_reference": ("<=", 0.2),
    "scorecam_peak_extra_mb": ("<=", 1536.0),
    "overlay_render_ms": ("<=", 20.0),
    "window_level_ms": ("<=", 15.0),
    "first_window_ms": ("<=", 1500.0),
    "prescan_over_batched_forward": (">", 0.8),
    "next_image_map_ms": ("<=", 100.0),
    "worklist_open_10000_ms": ("<=", 1000.0),
    "trust_check_forwards": ("<=", 60.0),
    "batch_explain_over_forward": (">", 0.8),
    "large_explain_s": ("<=", 10.0),
    "large_explain_peak_mb": ("<=", 1536.0),
}

# ratio -> (numerator, denominator): every ratio the benchmark reports, as the figures it divides.
RATIOS: dict[str, tuple[str, str]] = {
    "gradcam_over_forward": ("gradcam_ms", "forward_ms"),
    "gradcam_new_image_over_forward": ("gradcam_new_image_ms", "forward_ms"),
    "gradcam_map_over_forward": ("gradcam_map_ms", "forward_ms"),
    "gradcam_over_reference": ("gradcam_ms", "reference_gradcam_ms"),
    "scorecam_over_reference": ("scorecam_ms", "reference_scorecam_ms"),
    "scorecam_peak_extra_over_reference": ("scorecam_peak_extra_mb", "reference_scorecam_peak_extra_mb"),
    "faster_scorecam_over_gradcam": ("faster_scorecam_ms", "gradcam_ms"),
    "dicom_j2k_over_uncompressed": ("dicom_open_j2k_ms", "dicom_open_ms"),
    "first_heatmap_over_first_window": ("first_heatmap_ms", "first_window_ms"),
    "next_image_map_over_cold": ("next_image_map_ms", "next_image_map_cold_ms"),
    "prescan_over_batched_forward": ("prescan_images_per_s", "batched_forward_images_per_s"),
    "trust_check_forwards": ("trust_check_ms", "trust_forward_ms"),
    "trust_baselines_forwards": ("trust_baselines_ms", "trust_forward_ms"),
    "trust_first_check_forwards": ("trust_first_check_ms", "trust_forward_ms"),
    "retrieve_cget_over_disk": ("retrieve_cget_mb_s", "retrieve_disk_mb_s"),
    "retrieve_wado_over_disk": ("retrieve_wado_mb_s", "retrieve_disk_mb_s"),
    "batch_explain_over_forward": ("batch_explain_images_per_s", "batch_explain_forward_images_per_s"),
    "batch_decode_over_forward": ("batch_decode_images_per_s", "batch_explain_forward_images_per_s"),
}
# and scorecam_over_forward_batch = scorecam_ms / (scorecam_channels × forward_per_image_ms), where
# forward_per_image_ms = forward_best_batch_ms / best_batch_size.

BENCH_IMAGE = "demo_cr_nodule.dcm"


def goal_met(name: str, value: float | None) -> bool | None:
    if name not in GOALS or value is None:
        return None
    op, limit = GOALS[name]
    return bool(value <= limit) if op == "<=" else bool(value > limit)


def goals(figures: dict) -> dict:
    return {name: {"goal": f"{op} {limit:g}", "met": goal_met(name, figures.get(name))}
            for name, (op, limit) in GOALS.items() if name in figures}


def machine(device: str) -> dict:
    import keras
    import tensorflow as tf

    available: int | None
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count()
    return {
        "device": device, "tensorflow": tf.__version__, "keras": keras.__version__,
        "python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform(),
        "processor": _processor(), "cpu_count": os.cpu_count(), "cpus_available": available,
    }


def _load() -> list[float] | None:
    """1, 5 and 15 minute load averages: how busy a shared machine was (the ratios are meant to survive it)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _processor() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_file() -> Path:
    """The benchmark DICOM file itself (the pre-scan decodes copies of it)."""
    from viewer.assets import demo_studies

    studies = demo_studies()
    chosen = next((p for p in studies if p.name == BENCH_IMAGE), studies[0] if studies else None)
    if chosen is None:
        from viewer.errors import RadcamError
        raise RadcamError("the demo studies are missing from this installation (resources/demo)")
    return chosen


def benchmark_image() -> tuple[np.ndarray, str]:
    """The image every model explains: the first demo study as the viewer shows it (a phantom if not installed)."""
    from viewer.assets import demo_studies
    from viewer.io import open_image

    studies = demo_studies()
    chosen = next((p for p in studies if p.name == BENCH_IMAGE), studies[0] if studies else None)
    if chosen is not None:
        return open_image(chosen).render(), chosen.name
    from viewer.demo.phantom import make_phantom

    return make_phantom(4, 1024, ["nodule"]).display, "phantom seed 4, 1024x1024"


def run_benchmark(models: Sequence[Path] | None = None, repeat: int = 5,
                  say: Callable[[str], None] = lambda message: None, prescan: Scan | None = None,
                  batch_explain: Explainer | None = None) -> dict:
    """Every figure; `models` None is the default set (the demo model and a DenseNet121 of CheXNet's shape).
    `prescan` (viewer.app.prescan.scan_files, handed in from above) adds the pre-scan figure per model;
    `batch_explain` (explain's pipeline, viewer.cli.bench_batch) the batch explain figure.

    The models are loaded first: a wrong file fails at once, as one line, not after minutes of measuring.
    """
    from viewer import __version__
    from viewer.model import default_model_path, load_model, setup_tensorflow

    from .display import display_figures
    from .large_image import large_explain_figures
    from .models import bench_model, write_densenet121
    from .retrieve import retrieve_figures
    from .review_latency import next_image_figures
    from .startup import startup_figures
    from .trust_cost import add_trust_figures
    from .worklist import worklist_figures

    started = time.perf_counter()
    load = _load()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="radcam-bench-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns about input structures; the benchmark's output is its report
        folder = Path(tmp)
        device = setup_tensorflow()
        paths = list(models) if models else None
        if paths is None:
            say("building DenseNet121 (CheXNet's shape, random weights)")
            paths = [default_model_path(), write_densenet121(folder)]
        loaded = [load_model(Path(path)) for path in paths]
        say("viewer: DICOM open, window/level, overlay at 2048x2048")
        figures, runs, notes = display_figures(folder, repeat)
        say("viewer: start-up (fresh processes, offscreen)")
        start_figures, start_runs, start_notes = startup_figures(folder, repeat)
        figures.update(start_figures)
        runs.update(start_runs)
        notes.update(start_notes)
        say("viewer: next image to its map (J, fresh processes, offscreen)")
        next_figures, next_runs, next_notes = next_image_figures(folder, repeat)
        figures.update(next_figures)
        runs.update(next_runs)
        notes.update(next_notes)
        say("viewer: 10,000 worklist rows (a fresh process, offscreen)")
        found_figures, found_runs, found_notes = worklist_figures(repeat)
        figures.update(found_figures)
        runs.update(found_runs)
        notes.update(found_notes)
        say("explain of a 10,000² 16-bit DICOM (a fresh process: wall time, peak RSS)")
        large_figures, large_runs, large_notes = large_explain_figures(folder)
        figures.update(large_figures)
        runs.update(large_runs)
        notes.update(large_notes)
        say("PACS: retrieve throughput from a local Orthanc (C-GET, WADO-RS) against reading from disk")
        pacs_figures, pacs_runs, pacs_notes = retrieve_figures(folder, repeat, say)  # absent Orthanc: notes say why
        figures.update(pacs_figures)
        runs.update(pacs_runs)
        notes.update(pacs_notes)
        viewer = {"figures": figures, "goals": goals(figures), "runs": runs, "notes": notes}

        display, source = benchmark_image()
        results = []
        for i, model in enumerate(loaded):
            work = folder / f"model{i}"
            work.mkdir()
            result = bench_model(model, display, repeat, work, say)
            if prescan is not None:
                add_prescan_figures(result, model, prescan, bench_file(), work, repeat, say)
            if batch_explain is not None:
                add_batch_explain_figures(result, model, batch_explain, bench_file(), work, repeat, say)
            add_trust_figures(result, model, display, repeat, say)
            if models is None and i == 1:
                result["path"] = ("(temporary .keras: keras.applications.DenseNet121(weights=None) + GAP + "
                                  "Dense(14, sigmoid))")
            result["image"] = source
            result["goals"] = goals(result["figures"])
            results.append(result)
    return {
        "radcam": __version__, "timestamp": stamp, "repeat": repeat,
        "method": ("warm-up excluded, median of `repeat` samples (at most 3 for a figure whose run takes over 10 s); "
                   f"a sample is the mean time per call of as many consecutive calls as take about {SAMPLE_MS:g} ms "
                   "(calls_per_sample); figures that a ratio divides are sampled in the same rounds"),
        "machine": {**machine(device), "load_average_at_start": load, "load_average_at_end": _load()},
        "viewer": viewer, "models": results,
        "wall_s": round(time.perf_counter() - started, 1),
    }
