"""The target's probability for a batch of modified model-input images, in bounded, cancellable batches.

Every trust measure scores images the way explain() sees them: display → `prepare_raw` (resize, channels) →
modify on that [0, 255] grid → the model's own `preprocess` → the model. The batches are Score-CAM's
(viewer.cam.score_in_batches): equal sizes under the engine's memory estimate, halved on out-of-memory.
"""

from __future__ import annotations

import numpy as np

from viewer.cam import QUIET, Reporter, Target, score_in_batches


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
