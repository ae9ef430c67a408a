"""The target's probability for a batch of modified model-input images, in bounded, cancellable batches.

Every trust measure scores images the way explain() sees them: display → `prepare_raw` (resize, channels) →
modify on that [0, 255] grid → the model's own `preprocess` → the model. The batches are Score-CAM's
(viewer.cam.score_in_batches): equal sizes under the engine's memory estimate, halved on out-of-memory.
"""

from __future__ import annotations

import weakref

import numpy as np

from viewer.cam import QUIET, Reporter, Target, score_in_batches

# Per model: (prepared input, target, {image name: score}) for the images every map of that input shares — the
# original and the fully blurred canvas (both ends of both curves; the original is also the average drop's Y).
# A check scores the random and edge maps and then each method's map of one image: 5 of each map's images again.
_shared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def score_raw(engine, raw: np.ndarray, target: Target, reporter: Reporter = QUIET) -> np.ndarray:
    """Target scores of raw images (n, h, w, c) in [0, 255], float64."""
    model = engine.model

    def score(start: int, stop: int) -> np.ndarray:
        probabilities = engine.probabilities(model.preprocess(raw[start:stop]))
        model.check_output(probabilities)
        return target.probability(probabilities)

    scores, _size = score_in_batches(engine, len(raw), score, reporter=reporter,
                                     what="trust measure", unit="modified image", dtype=np.float64)
    return scores


def shared_scores(engine, raw: np.ndarray, target: Target) -> dict[str, float]:
    """The scores kept for `raw` (engine.model.prepare_raw of the display) and `target`, to read and to fill in
    ("original", "canvas"); a new, empty dict for another input or target. Kept only while `raw` is the same
    read-only array: LoadedModel memoises the last display's input that way (the same object for the same pixels,
    a new one for other pixels), so a kept score can never belong to other pixels."""
    model = engine.model
    try:
        kept = _shared.get(model)
    except TypeError:  # a model object without weak references (a stand-in): nothing is kept
        return {}
    if kept is not None and kept[0] is raw and kept[1] == target:
        return kept[2]
    scores: dict[str, float] = {}
    if not raw.flags.writeable:
        _shared[model] = (raw, target, scores)
    return scores


def forget_shared(engine) -> None:
    """Drop the kept scores of `engine`'s model (the next map scores the shared images again)."""
    try:
        _shared.pop(engine.model, None)
    except TypeError:  # never kept (shared_scores)
        pass
