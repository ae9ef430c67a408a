"""Score-CAM (Wang et al. 2020): each channel weighted by how much the image masked by it raises the target
probability over a blank image. One masked forward pass per channel, in batches (viewer/cam/batches.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.cam.base import MethodInfo, Target
from viewer.cam.context import CamContext
from viewer.cam.passes import Key, batch_probabilities, scalars, signature

if TYPE_CHECKING:
    from viewer.cam.engine import CamEngine

INFO = MethodInfo("scorecam", "Score-CAM", "Score-CAM: channels weighted by the score of the image masked by them "
                  "(slow)", False, aliases=("score-cam",))


def compute(ctx: CamContext, channels: np.ndarray | None = None) -> np.ndarray:
    a = ctx.activations()
    if channels is None:
        channels = np.arange(a.shape[2])
    weights = score_weights(ctx, channels)
    return np.tensordot(a[..., channels], weights, axes=([2], [0]))


def score_weights(ctx: CamContext, channels: np.ndarray) -> np.ndarray:
    """Target probability of the image masked by each chosen channel, minus the blank score."""
    import tensorflow as tf

    activations = ctx.activations()
    assert ctx.target is not None  # fixed by the forward pass
    index, sign = ctx.target.unit, ctx.target.sign
    raw = tf.constant(ctx.raw)
    maps = np.ascontiguousarray(np.moveaxis(activations[..., channels], -1, 0), np.float32)
    scores, size = ctx.score_batches(len(maps), lambda start, stop: score_batch(ctx.engine, raw, maps[start:stop],
                                                                                 index, sign),
                                     "Score-CAM", "masked image")
    baseline = blank_score(ctx.engine, ctx.target)
    ctx.extra.update(baseline=baseline, batch_size=size, channels=len(channels))
    return scores - baseline


def score_batch(engine: CamEngine, raw: Any, maps: np.ndarray, index: int, sign: float) -> np.ndarray:
    """The target score of `raw` masked by each of `maps`, in one batched forward pass."""
    return np.asarray(engine.compiled(("score",), build_score)(raw, maps, np.int32(index), np.float32(sign)))


def build_score(engine: CamEngine, key: Key) -> Any:
    """The ("score",) pass: mask the raw image with each upsampled, min-max normalised map; target probability."""
    import tensorflow as tf

    h, w = engine.model.input_size

    spec = [signature(engine), tf.TensorSpec((None, None, None), tf.float32), *scalars()]

    @tf.function(input_signature=spec, autograph=False)  # type: ignore[untyped-decorator]
    def score(raw: Any, maps: Any, index: Any, sign: Any) -> Any:
        engine.trace_counts[key] += 1
        masks = tf.image.resize(maps[..., None], (h, w), method="bilinear")
        low = tf.reduce_min(masks, axis=(1, 2, 3), keepdims=True)
        span = tf.reduce_max(masks, axis=(1, 2, 3), keepdims=True) - low
        masks = tf.where(span > 0, (masks - low) / tf.where(span > 0, span, 1.0), 0.0)
        probs = batch_probabilities(engine, engine.model.preprocess(raw * masks))
        p = probs[:, index]
        return tf.where(sign > 0, p, 1.0 - p)

    return score


def blank_score(engine: CamEngine, target: Target) -> float:
    """The baseline: the target score of the all-black image (a zero mask), the same for every image, so its
    probabilities are computed once per engine."""
    blank = engine.memo.get("scorecam_blank_probabilities")
    if blank is None:
        h, w = engine.model.input_size
        zeros = np.asarray(engine.model.preprocess(np.zeros((1, h, w, engine.model.channels), np.float32)),
                           np.float32)
        blank = engine.memo["scorecam_blank_probabilities"] = engine.probabilities(zeros)[0]
    return float(target.probability(blank))
