"""The target's probability for a batch of modified model-input images, in bounded, cancellable chunks.

Every trust measure scores images the way explain() sees them: display → `prepare_raw` (resize, channels) →
modify on that [0, 255] grid → the model's own `preprocess` → the model.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.cam import Cancelled, target_probability


def score_raw(engine, raw: np.ndarray, target: dict, progress: Callable[[float], None] | None = None,
              cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """Target scores of raw images (n, h, w, c) in [0, 255], chunked like Score-CAM batches (memory-bounded)."""
    model = engine.model
    size = engine.score_batch_limit or engine.batch_size_for()
    scores = np.empty(len(raw), np.float64)
    for start in range(0, len(raw), size):
        if cancel is not None and cancel():
            raise Cancelled("trust measure cancelled")
        probabilities = engine.probabilities(model.preprocess(raw[start:start + size]))
        model.check_output(probabilities)
        scores[start:start + len(probabilities)] = target_probability(probabilities, target)
        if progress is not None:
            progress(min(start + size, len(raw)) / len(raw))
    return scores
