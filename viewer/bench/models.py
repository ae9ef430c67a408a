"""Per-model figures: forward pass, Grad-CAM, Score-CAM and Faster Score-CAM against the forward pass and against
the reference recipes (viewer.bench.reference), plus Score-CAM's peak memory (viewer.bench.child).

Every map is made from the same display image for the same model; RadCAM runs through the public CamEngine API,
the model through viewer.model.load_model (the real load path). TensorFlow is imported lazily.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from viewer.errors import RadcamError

from .measure import SAMPLE_MS, Timing, pearson, ratio, run_child, time_ms, time_rounds

CORRELATION_MIN = 0.99
FASTER_TOP_N = 32
SWEEP_BYTES = 2**30  # the forward-pass batch sweep stops where a batch would need about this much
CHILD_TIMEOUT_S = 1800
CHEXNET_LABELS = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
                  "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"]


def write_densenet121(folder: Path) -> Path:
    """CheXNet's shape: DenseNet121 at 224×224×3 with 14 sigmoid outputs, random weights (seeded), saved as .keras
    with a sidecar (CheXNet's labels, ImageNet preprocessing) so that it loads through viewer.model.load_model."""
    from viewer.model import setup_tensorflow, sidecar_path

    setup_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.DenseNet121(weights=None, include_top=False, input_shape=(224, 224, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(base.output)
    scores = keras.layers.Dense(len(CHEXNET_LABELS), activation="sigmoid", name="predictions")(pooled)
    model = keras.Model(base.input, scores, name="densenet121_chexnet")
    path = Path(folder) / "densenet121_chexnet.keras"
    model.save(path)
    sidecar_path(path).write_text(json.dumps({
        "description": "DenseNet121, CheXNet's shape (224x224x3, 14 sigmoid outputs), RANDOM weights: for timing only",
        "labels": CHEXNET_LABELS, "preprocess": "imagenet"}), encoding="utf-8")
    return path


def measured(figures: dict[str, float | None], name: str) -> float:
    """A figure that was just timed (None only for a figure that could not be measured)."""
    value = figures[name]
    if value is None:
        raise RadcamError(f"{name} was not measured")
    return value


def _child(model: Path, display: Path, recipe: str, folder: Path) -> tuple[dict, np.ndarray]:
    out = folder / f"map_{recipe}.npy"
    report = run_child(["-m", "viewer.bench.child", str(model), str(display), recipe, str(out)],
                       f"the {recipe} Score-CAM memory run", CHILD_TIMEOUT_S)
    return report, np.load(out)


def forward_sweep(forward: Callable, x: np.ndarray, repeat: int, limit: int) -> tuple[int, dict[int, float]]:
    """(best batch size, {batch: per-image ms}) over batch sizes 1, 2, 4, ... up to `limit`.

    Every size is tried (no early stop: on a shared machine one noisy size would end the sweep too soon). The
    benchmark then times the chosen size again, in the same rounds as Score-CAM, for the floor it divides by.
    """
    sweep: dict[int, float] = {}
    batch = 1
    while batch <= limit:
        xb = np.repeat(x, batch, axis=0)

        def once(xb: np.ndarray = xb) -> object:  # bound now: timed before the loop moves on
            return np.asarray(forward(xb))

        sweep[batch] = time_ms(once, repeat, sample_ms=SAMPLE_MS).median_ms / batch
        batch *= 2
    return min(sweep, key=sweep.__getitem__), sweep


def bench_model(loaded, display: np.ndarray, repeat: int, folder: Path,
                say: Callable[[str], None] = lambda message: None) -> dict:
    """Every per-model figure for `loaded` (a viewer.model.LoadedModel), explaining `display` (uint8 H×W or
    H×W×3); its file (`loaded.path`) is what the memory runs load in their own processes.

    Figures that a ratio divides are timed in the same rounds (measure.time_rounds): forward pass, Grad-CAM, the
    tutorial Grad-CAM and Faster Score-CAM in one group; Score-CAM, the naive per-channel Score-CAM loop and the
    forward pass at the best batch size in another.
    """
    from viewer.cam import CamEngine

    from .reference import NaiveScoreCam, TutorialGradCam

    path = loaded.path
    import tensorflow as tf

    engine = CamEngine(loaded)
    layer = engine.default_layer()
    layer_shape = next(info.shape for info in engine.layers() if info.name == layer)
    channels = int(layer_shape[2])
    top_n = min(channels, FASTER_TOP_N)
    h, w = loaded.input_size
    x = loaded.prepare(display)
    forward = tf.function(loaded.call, input_signature=[
        tf.TensorSpec((None, h, w, loaded.channels), tf.float32)])
    figures: dict[str, float | None] = {}
    runs: dict[str, int] = {}
    calls: dict[str, int] = {}
    notes: dict[str, str] = {}
    last: dict[str, Any] = {"gradcam": [], "scorecam": []}  # Grad-CAMs' timings, the last Score-CAM's extra

    def record(timings: dict[str, Timing]) -> None:
        for name, timing in timings.items():
            figures[name], runs[name], calls[name] = timing.median_ms, timing.runs, timing.calls_per_sample

    def gradcam() -> None:
        last["gradcam"].append(engine.explain(display, method="gradcam").timings_ms)

    def gradcam_new_image() -> None:  # the first map of an image: its resize to the model input is not kept yet
        loaded.forget_inputs()
        engine.explain(display, method="gradcam")

    def faster() -> None:
        engine.explain(display, method="faster-scorecam", top_n=top_n)

    def scorecam() -> None:
        last["scorecam"] = engine.explain(display, method="scorecam").extra

    say(f"{loaded.name}: warm-up; the tutorial Grad-CAM's map checked against RadCAM's")
    np.asarray(forward(x))
    ours = engine.explain(display, method="gradcam")
    faster()  # also traces the forward and score passes Score-CAM uses
    traced = sum(engine.trace_counts.values())
    group = {"forward_ms": lambda: np.asarray(forward(x)), "gradcam_ms": gradcam,
             "gradcam_new_image_ms": gradcam_new_image, "faster_scorecam_ms": faster}
    figures.update(reference_gradcam_ms=None, gradcam_over_reference=None, reference_gradcam_correlation=None)
    try:
        tutorial = TutorialGradCam(loaded, layer)
        figures["reference_gradcam_correlation"] = correlation = pearson(ours.cam, tutorial(display))
    except RadcamError as exc:
        notes["reference_gradcam_ms"] = f"not timed: {exc}"
    else:
        if correlation > CORRELATION_MIN:
            group["reference_gradcam_ms"] = lambda: tutorial(display)
        else:
            notes["reference_gradcam_ms"] = (f"not timed: its map correlates {correlation:.4f} with RadCAM's "
                                             f"(needs > {CORRELATION_MIN})")

    say(f"{loaded.name}: forward pass, Grad-CAM, tutorial Grad-CAM, Faster Score-CAM (N = {top_n})")
    record(time_rounds(group, repeat, sample_ms=SAMPLE_MS))
    figures["gradcam_over_forward"] = ratio(figures["gradcam_ms"], figures["forward_ms"])
    figures["gradcam_new_image_over_forward"] = ratio(figures["gradcam_new_image_ms"], figures["forward_ms"])
    figures["gradcam_preprocess_ms"] = float(np.median([t["preprocess"] for t in last["gradcam"]]))
    figures["gradcam_map_ms"] = float(np.median([t["cam"] for t in last["gradcam"]]))
    figures["gradcam_map_over_forward"] = ratio(figures["gradcam_map_ms"], figures["forward_ms"])
    figures["gradcam_over_reference"] = ratio(figures["gradcam_ms"], figures["reference_gradcam_ms"])
    figures["faster_scorecam_over_gradcam"] = ratio(figures["faster_scorecam_ms"], figures["gradcam_ms"])

    say(f"{loaded.name}: Score-CAM peak memory, RadCAM's and the naive per-channel loop's, one fresh process each")
    display_file = folder / "display.npy"
    np.save(display_file, display)
    memory, ours_map = _child(path, display_file, "radcam", folder)
    figures["scorecam_peak_extra_mb"] = memory["peak_extra_mb"]
    notes["scorecam_peak_extra_mb"] = ("the first Score-CAM after loading the model (tracing included): RSS "
                                       f"high-water mark minus RSS before ({memory['peak_method']})")
    figures.update(reference_scorecam_peak_extra_mb=None, scorecam_peak_extra_over_reference=None,
                   reference_scorecam_correlation=None, reference_scorecam_ms=None, scorecam_over_reference=None)
    try:
        child = _child(path, display_file, "reference", folder)
    except RadcamError as exc:
        notes["reference_scorecam_ms"] = f"not timed: {exc}"
        reference_memory = None
    else:
        reference_memory, reference_map = child
        figures["reference_scorecam_peak_extra_mb"] = reference_memory["peak_extra_mb"]
        figures["scorecam_peak_extra_over_reference"] = ratio(memory["peak_extra_mb"],
                                                              reference_memory["peak_extra_mb"])
        figures["reference_scorecam_correlation"] = pearson(ours_map, reference_map)

    say(f"{loaded.name}: forward pass at batch sizes 1, 2, 4, ... (the best one is Score-CAM's floor)")
    best_batch, sweep = forward_sweep(forward, x, repeat, engine.batch_size_for(SWEEP_BYTES))
    xb = np.repeat(x, best_batch, axis=0)
    group = {"scorecam_ms": scorecam, "forward_best_batch_ms": lambda: np.asarray(forward(xb))}
    scorecam_correlation = figures["reference_scorecam_correlation"]
    if scorecam_correlation is not None and scorecam_correlation > CORRELATION_MIN:
        naive = NaiveScoreCam(loaded, layer)
        naive(display, channels=top_n)  # warm-up: Keras builds its predict functions
        group["reference_scorecam_ms"] = lambda: naive(display)
    elif scorecam_correlation is not None:
        notes["reference_scorecam_ms"] = (f"not timed: its map correlates {scorecam_correlation:.4f} with RadCAM's "
                                          f"(needs > {CORRELATION_MIN})")
    say(f"{loaded.name}: Score-CAM over {channels} channels"
        + (", the naive per-channel Score-CAM loop" if "reference_scorecam_ms" in group else "")
        + f", forward pass at batch {best_batch}")
    record(time_rounds(group, repeat, sample_ms=SAMPLE_MS))
    forward_per_image = measured(figures, "forward_best_batch_ms") / best_batch
    figures["forward_per_image_ms"] = forward_per_image
    figures["scorecam_over_forward_batch"] = ratio(figures["scorecam_ms"], channels * forward_per_image)
    figures["scorecam_over_reference"] = ratio(figures["scorecam_ms"], figures["reference_scorecam_ms"])
    figures["retraces_while_timed"] = sum(engine.trace_counts.values()) - traced

    return {
        "name": loaded.name, "path": str(path), "input_size": list(loaded.input_size), "channels": loaded.channels,
        "outputs": loaded.n_outputs, "preprocess": loaded.spec.preprocess, "layer": layer,
        "layer_shape": list(layer_shape), "display_size": list(display.shape[:2]),
        "target": ours.target.name, "best_batch_size": best_batch,
        "forward_per_image_ms_by_batch": {str(b): v for b, v in sweep.items()},
        "scorecam_channels": channels, "scorecam_batch_size": last["scorecam"].get("batch_size"),
        "faster_scorecam_channels": top_n,
        "scorecam_memory": {"radcam": memory, "reference": reference_memory},
        "figures": figures, "runs": runs, "calls_per_sample": calls, "notes": notes,
    }
