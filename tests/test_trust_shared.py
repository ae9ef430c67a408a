"""The images every map of one input and target shares — the original and the fully blurred canvas, both ends of
both curves and the average drop's Y — are scored once per input and target (viewer.trust.scoring.shared_scores):
after the baselines, each method's map scores 5 of its 44 images fewer (issue 17's cost), all in one pass, and every
number is the same, bit for bit, as when each measure scores its own images (the code before), on the demo model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from viewer.model import default_model_path
from viewer.trust import score_baselines, score_map
from viewer.trust.confidence import confidence_from, masked_image
from viewer.trust.curves import DEFAULT_STEPS, Curves, at_input_grid, auc, blurred, pixel_order
from viewer.trust.road import DEFAULT_PERCENTILES, road
from viewer.trust.scoring import forget_shared, score_raw, shared_scores

METHODS = ("gradcam", "gradcampp", "eigencam")
PER_MAP = 2 * (DEFAULT_STEPS + 1) + 2 * len(DEFAULT_PERCENTILES) + 2  # curves, ROAD, average drop (Y and O)


@pytest.fixture(scope="module")
def demo():
    from viewer.bench.suite import benchmark_image
    from viewer.cam import CamEngine
    from viewer.model import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = CamEngine(load_model(default_model_path()))
        display, _ = benchmark_image()
        results = [engine.explain(display, method) for method in METHODS]
    return engine, display, results


@pytest.fixture
def counted(demo, monkeypatch):
    """The demo engine, counting the images it scores (the real model scores them)."""
    engine = demo[0]
    count = {"images": 0, "calls": 0}
    probabilities = engine.probabilities

    def counting(x):
        count["images"] += len(x)
        count["calls"] += 1
        return probabilities(x)

    monkeypatch.setattr(engine, "probabilities", counting)
    forget_shared(engine)
    yield engine, count
    forget_shared(engine)


def _before(engine, display, saliency, target):
    """Curves, ROAD and average drop as they were computed before: each measure scoring all of its own images in its
    own pass (deletion_insertion's code then, verbatim: 2 × 17 images, the ends included)."""
    raw = engine.model.prepare_raw(display)[0]
    h, w, c = raw.shape
    canvas = blurred(raw)
    order = pixel_order(at_input_grid(engine, saliency))
    fractions = np.linspace(0.0, 1.0, DEFAULT_STEPS + 1)
    batch = np.empty((2 * len(fractions), h, w, c), np.float32)
    rank = np.empty(h * w, np.int64)
    rank[order] = np.arange(h * w)
    for i, fraction in enumerate(fractions):
        chosen = (rank < round(fraction * h * w)).reshape(h, w, 1)
        batch[i] = np.where(chosen, canvas, raw)
        batch[len(fractions) + i] = np.where(chosen, raw, canvas)
    scores = score_raw(engine, batch, target)
    deletion, insertion = scores[:len(fractions)], scores[len(fractions):]
    curves = Curves(tuple(float(f) for f in fractions), tuple(float(s) for s in deletion),
                    tuple(float(s) for s in insertion), auc(fractions, deletion), auc(fractions, insertion))
    # The average drop's formula then, with Y and O from one pass. Not confidence_change's own 2-image pass: across
    # processes that pass gave O in either of two last bits (measured: 2 of 8 phantoms' edge maps differed between
    # two runs of the code before, by 6e-11), while passes of 3 or more images give one value in any position.
    y, o, _ = score_raw(engine, np.concatenate([raw[None], masked_image(engine, display, saliency), raw[None]]), target)
    return curves, road(engine, display, saliency, target), confidence_from(y, o)


def test_each_map_after_the_baselines_scores_five_images_fewer_with_the_same_numbers(demo, counted):
    engine, count = counted
    _, display, results = demo
    target = results[0].target
    assert all(result.target == target for result in results)
    baselines = score_baselines(engine, display, target)
    # the first baseline scores the original once (not 3 times) and the canvas once (not twice); the second neither
    assert count["images"] == (PER_MAP - 3) + (PER_MAP - 5)
    assert count["calls"] == 2  # each map's images in one pass
    scores = {}
    for result in results:
        before = count["images"]
        scores[result.method] = score_map(engine, display, result.cam, target)
        assert count["images"] - before == PER_MAP - 5, result.method
    from viewer.trust.baselines import baseline_maps

    saliencies = {**baseline_maps(display), **{result.method: result.cam for result in results}}
    for name, found in {**baselines, **scores}.items():
        curves, removed, confidence = _before(engine, display, saliencies[name], target)
        assert found.curves == curves, name  # every fraction's score and both AUCs, compared exactly
        assert found.road == removed, name
        assert found.confidence == confidence, name  # Y, O, the drop and the increase
        assert found.curves.deletion[0] == found.curves.insertion[-1] == found.confidence.score


def test_another_target_or_other_pixels_score_their_own_shared_images(demo, counted):
    from viewer.cam import Target

    engine, count = counted
    _, display, results = demo
    cam, target = results[0].cam, results[0].target
    other = Target.resolve(engine.model, next(name for name in engine.model.target_names if name != target.name))
    for case_display, case_target in ((display, other), (display[::-1].copy(), target)):
        score_map(engine, display, cam, target)  # the shared images of the first input and target are kept
        before = count["images"]
        found = score_map(engine, case_display, cam, case_target)
        assert count["images"] - before == PER_MAP - 3  # its own original and canvas, each scored once
        assert (found.curves, found.road, found.confidence) == _before(engine, case_display, cam, case_target)


def test_a_writeable_input_is_never_kept(demo):
    """Only the model's memoised read-only input is kept by identity: a writeable array could change in place."""
    engine, display, results = demo
    raw = np.array(engine.model.prepare_raw(display))  # a writeable copy
    shared_scores(engine, raw, results[0].target)["original"] = 0.5
    assert shared_scores(engine, raw, results[0].target) == {}


@pytest.mark.parametrize("seed", [0, 5])
def test_pixel_order_is_the_seeded_lexsort(seed):
    """pixel_order sorts stably in tie-break order (twice as fast as np.lexsort) to the same order: highest first,
    ties (a ReLU'd map's zeros, repeated values) in the seeded random order."""
    rng = np.random.default_rng(seed)
    saliency = np.round(np.maximum(rng.random((96, 128)) - 0.5, 0.0), 2).astype(np.float32)
    saliency[0, :5] = np.nan if seed else 0.0
    tiebreak = np.random.default_rng(seed).permutation(saliency.size)
    expected = np.lexsort((tiebreak, -saliency.astype(np.float64).ravel()))
    assert np.array_equal(pixel_order(saliency, seed), expected)


def test_a_model_without_weak_references_keeps_nothing(demo):
    """A stand-in model object (here a SimpleNamespace, which takes no weak reference) is scored without the cache."""
    from types import SimpleNamespace

    engine, display, results = demo
    stand_in = SimpleNamespace(model=SimpleNamespace())
    raw = engine.model.prepare_raw(display)
    assert shared_scores(stand_in, raw, results[0].target) == {}
    forget_shared(stand_in)
