"""The one batched scoring loop: Score-CAM's masked images, Ablation-CAM's ablated copies and the trust measures'
modified images all go through `score_in_batches`.

The items go in batches of equal size (65 at 61 per batch as 33 + 32, not 61 + 4: a small last batch costs nearly
as much as a full one). A batch that runs out of memory is retried at half the size (down to 1); the size that
fitted is kept on the engine (`score_batch_limit`) for every later call, whichever method or measure makes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from viewer.cam.base import QUIET, Cancelled, Reporter
from viewer.errors import CamError

if TYPE_CHECKING:
    from viewer.cam.engine import CamEngine

def score_in_batches(engine: CamEngine, count: int, score: Callable[[int, int], np.ndarray], *,
                     batch_size: int | None = None, reporter: Reporter = QUIET,
                     what: str = "Score-CAM", unit: str = "masked image", share: float = 1.0,
                     dtype: type = np.float32) -> tuple[np.ndarray, int]:
    """Scores of `count` items, `score(start, stop)` giving those of items start..stop-1 in one pass.

    batch_size: the most per batch (default: the engine's memory estimate, `batch_size_for`), never more than a
    size that ran out of memory before. `reporter.progress` gets the fraction done times `share`;
    `reporter.cancelled()` is checked before each batch (Cancelled: "<what> cancelled"). Returns (scores, the batch
    size last used)."""
    import tensorflow as tf

    size = int(batch_size or engine.batch_size_for())
    if size < 1:
        raise CamError(f"batch_size must be at least 1, got {size}")
    size = min(size, engine.score_batch_limit or size)
    scores: np.ndarray = np.empty(count, dtype)
    start = 0
    while start < count:
        if reporter.cancelled():
            raise Cancelled(f"{what} cancelled")
        left = count - start
        stop = start + math.ceil(left / math.ceil(left / size))  # the same size for every remaining batch
        try:
            scores[start:stop] = score(start, stop)
        except (tf.errors.ResourceExhaustedError, MemoryError):
            if size == 1:
                raise CamError(f"{what} ran out of memory even one {unit} at a time") from None
            size = engine.score_batch_limit = size // 2
            continue
        start = stop
        reporter.progress(start / count * share)
    return scores, size
