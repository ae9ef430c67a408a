"""What a full trust check costs, in forward passes (issue 17's goal: at most 60 per map on the demo model and on
the DenseNet121-shaped model, "with the baselines reused across methods as today").

The check is what `radcam-cli evaluate` and the Trust tab run for a Grad-CAM map of the benchmark image:
assess() (deletion/insertion curves, ROAD, average drop, and the randomisation check's explain on the randomised
copy) and score_baselines() (the random and edge maps through the same measures). The baselines depend on the image
and the target only, so they are paid once per image and target and reused by every map checked on it:

- trust_check_forwards (the goal): one map of an image whose baselines are already scored — assess() alone;
- trust_baselines_forwards: score_baselines(), paid once per image and target (no goal);
- trust_first_check_forwards: the first map of an image, baselines included (no goal): per round, the baselines'
  sample plus the map's, the median of those sums.

Each is its time over one forward pass (the bench's own: one image, compiled) timed in the same rounds
(measure.time_rounds). Not counted: the map's own explain (the check takes a map) and making the randomised copy
(once per model). trust_<part>_forwards: each part timed once after the rounds, a map's parts with the baselines
already scored.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from .measure import SAMPLE_MS, ratio, time_rounds

PARTS = ("curves", "road", "road_imputation", "confidence", "sanity")  # a map's, its baselines already scored


def add_trust_figures(result: dict, loaded, display: np.ndarray, repeat: int,
                      say: Callable[[str], None] = lambda message: None) -> None:
    """Add trust_forward_ms, trust_check_ms, trust_baselines_ms, trust_first_check_ms, their ratios to the forward
    pass (trust_check_forwards, trust_baselines_forwards, trust_first_check_forwards) and each part in forward
    passes (trust_<part>_forwards) to `result` (bench_model's dict for `loaded`)."""
    import tensorflow as tf

    from viewer.cam import CamEngine
    from viewer.trust import RandomisedModel, assess, score_baselines
    from viewer.trust.confidence import confidence_change
    from viewer.trust.curves import deletion_insertion
    from viewer.trust.imputation import impute_each
    from viewer.trust.randomisation import randomisation_check
    from viewer.trust.road import DEFAULT_PERCENTILES, removal_masks, road
    from viewer.trust.scoring import forget_shared

    say(f"{loaded.name}: a full trust check of a Grad-CAM map (curves, ROAD, average drop, sanity; baselines)")
    engine = CamEngine(loaded)
    randomised = RandomisedModel(loaded)
    explained = engine.explain(display, method="gradcam")
    target = explained.target
    h, w = loaded.input_size
    x = loaded.prepare(display)
    forward = tf.function(loaded.call, input_signature=[tf.TensorSpec((None, h, w, loaded.channels), tf.float32)])

    def baselines() -> None:
        forget_shared(engine)  # they pay for the images every map of the image shares (scoring.shared_scores)
        score_baselines(engine, display, target)

    def check() -> None:
        assess(engine, display, explained, randomised=randomised)

    baselines()  # warm-up: traces the scoring batches' shapes and the randomised copy's explain
    check()
    np.asarray(forward(x))
    timings = time_rounds({"trust_forward_ms": lambda: np.asarray(forward(x)), "trust_baselines_ms": baselines,
                           "trust_check_ms": check}, repeat, sample_ms=SAMPLE_MS)
    figures, runs = result["figures"], result["runs"]
    for name, timing in timings.items():
        figures[name], runs[name] = timing.median_ms, timing.runs
        result["calls_per_sample"][name] = timing.calls_per_sample
    figures["trust_first_check_ms"] = statistics.median(
        b + c for b, c in zip(timings["trust_baselines_ms"].samples, timings["trust_check_ms"].samples, strict=True))
    runs["trust_first_check_ms"] = timings["trust_check_ms"].runs
    fwd = figures["trust_forward_ms"]
    for name in ("check", "baselines", "first_check"):
        figures[f"trust_{name}_forwards"] = ratio(figures[f"trust_{name}_ms"], fwd)

    cam = explained.cam
    raw = loaded.prepare_raw(display)[0]
    masks = removal_masks(engine, cam, DEFAULT_PERCENTILES)
    parts: dict[str, Callable[[], object]] = {
        "curves": lambda: deletion_insertion(engine, display, cam, target),
        "road": lambda: road(engine, display, cam, target),
        "road_imputation": lambda: list(impute_each(raw, masks, np.random.default_rng(0))),
        "confidence": lambda: confidence_change(engine, display, cam, target),
        "sanity": lambda: randomisation_check(engine, display, explained, randomised),
    }
    for name in PARTS:
        start = time.perf_counter()
        parts[name]()
        figures[f"trust_{name}_forwards"] = ratio((time.perf_counter() - start) * 1e3, fwd)
    result["notes"]["trust_check_forwards"] = (
        "a full check of one Grad-CAM map of an image whose baselines are already scored (curves, ROAD, average "
        "drop, the sanity check's explain on the randomised copy), over one forward pass timed in the same rounds. "
        "trust_baselines_forwards: the random and edge maps through the same measures, paid once per image and "
        "target; trust_first_check_forwards: the first map of an image, baselines included (per round, their sum). "
        "trust_<part>_forwards: each part timed once")
