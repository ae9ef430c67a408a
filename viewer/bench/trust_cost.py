"""What one full trust check of one map costs, in forward passes (issue 17's goal: at most 60 on the demo model
and on the DenseNet121-shaped model).

The check is what `radcam-cli evaluate` and the Trust tab run for a Grad-CAM map of the benchmark image:
assess() (deletion/insertion curves, ROAD, average drop, and the randomisation check's explain on the randomised
copy) plus score_baselines() (the random and edge maps through the same measures). The baselines are scored once
per image and reused by every method checked on it; they are counted here once, in full, so the figure is the
cost of checking the first map of an image (trust_check_method_forwards: each further method's). Not counted:
the map's own explain (the check takes a map) and making the randomised copy (once per model).

trust_check_forwards = trust_check_ms / trust_forward_ms, both timed in the same rounds (measure.time_rounds);
the forward pass is the bench's own (one image, compiled). The parts are timed once each after the rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .measure import SAMPLE_MS, ratio, time_rounds

PARTS = ("curves", "road", "road_imputation", "confidence", "sanity", "baselines")


def add_trust_figures(result: dict, loaded, display: np.ndarray, repeat: int,
                      say: Callable[[str], None] = lambda message: None) -> None:
    """Add trust_check_ms, trust_forward_ms, trust_check_forwards, trust_check_method_forwards and each part in
    forward passes (trust_<part>_forwards) to `result` (bench_model's dict for `loaded`)."""
    import tensorflow as tf

    from viewer.cam import CamEngine
    from viewer.trust import RandomisedModel, assess, score_baselines
    from viewer.trust.confidence import confidence_change
    from viewer.trust.curves import deletion_insertion
    from viewer.trust.imputation import impute_each
    from viewer.trust.randomisation import randomisation_check
    from viewer.trust.road import DEFAULT_PERCENTILES, removal_masks, road

    say(f"{loaded.name}: one full trust check of a Grad-CAM map (curves, ROAD, average drop, sanity, baselines)")
    engine = CamEngine(loaded)
    randomised = RandomisedModel(loaded)
    explained = engine.explain(display, method="gradcam")
    h, w = loaded.input_size
    x = loaded.prepare(display)
    forward = tf.function(loaded.call, input_signature=[tf.TensorSpec((None, h, w, loaded.channels), tf.float32)])

    def check() -> None:
        assess(engine, display, explained, randomised=randomised)
        score_baselines(engine, display, explained.target)

    check()  # warm-up: traces the scoring batches' shapes and the randomised copy's explain
    np.asarray(forward(x))
    timings = time_rounds({"trust_forward_ms": lambda: np.asarray(forward(x)), "trust_check_ms": check}, repeat,
                          sample_ms=SAMPLE_MS)
    figures, runs = result["figures"], result["runs"]
    for name, timing in timings.items():
        figures[name], runs[name] = timing.median_ms, timing.runs
        result["calls_per_sample"][name] = timing.calls_per_sample
    fwd = figures["trust_forward_ms"]
    figures["trust_check_forwards"] = ratio(figures["trust_check_ms"], fwd)

    cam, target = explained.cam, explained.target
    raw = loaded.prepare_raw(display)[0]
    masks = removal_masks(engine, cam, DEFAULT_PERCENTILES)
    parts: dict[str, Callable[[], object]] = {
        "curves": lambda: deletion_insertion(engine, display, cam, target),
        "road": lambda: road(engine, display, cam, target),
        "road_imputation": lambda: list(impute_each(raw, masks, np.random.default_rng(0))),
        "confidence": lambda: confidence_change(engine, display, cam, target),
        "sanity": lambda: randomisation_check(engine, display, explained, randomised),
        "baselines": lambda: score_baselines(engine, display, target),
    }
    for name in PARTS:
        start = time.perf_counter()
        parts[name]()
        figures[f"trust_{name}_forwards"] = ratio((time.perf_counter() - start) * 1e3, fwd)
    method = sum(figures[f"trust_{name}_forwards"] or 0.0 for name in ("curves", "road", "confidence", "sanity"))
    figures["trust_check_method_forwards"] = method
    result["notes"]["trust_check_forwards"] = (
        "one full check of one Grad-CAM map: curves, ROAD, average drop, the sanity check's explain on the "
        "randomised copy, and the random and edge baselines counted once (they are reused by every method on the "
        "image); over one forward pass timed in the same rounds. trust_<part>_forwards: each part timed once; "
        "trust_check_method_forwards: the parts without the baselines (each further method on the same image)")
