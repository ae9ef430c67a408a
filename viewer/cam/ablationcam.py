"""Ablation-CAM (Desai & Ramaswamy 2020): each channel weighted by how much the target score drops when that
channel of the target layer is zeroed, (y - y_k) / |y|. One forward pass per channel, in batches like Score-CAM's.

As pytorch-grad-cam's ablation_cam.py does it: the image is repeated once per ablated channel and the whole model
runs on the batch, the target layer's output with channel k set to zero in copy k (here by the engine's target
hook, during the model's real forward pass). The score y is the target's logit (the score before the
sigmoid/softmax, the one gradient methods differentiate; "not X" of a single sigmoid unit: minus its logit).
Two departures, both for maps that do not flip: the drop is divided by |y| rather than y (a negative logit
would turn every weight round), and a channel is always ablated to zero, as in the paper (pytorch-grad-cam sets
it 1e7 below the minimum where a layer's output can be negative).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.cam.base import MethodInfo
from viewer.cam.context import CamContext
from viewer.cam.hooks import hooked_call
from viewer.cam.passes import Key, scalars, signature

if TYPE_CHECKING:
    from viewer.cam.engine import CamEngine

INFO = MethodInfo("ablationcam", "Ablation-CAM", "Ablation-CAM: channels weighted by the score lost without them "
                  "(slow)", False, aliases=("ablation-cam", "ablation_cam"))


def compute(ctx: CamContext) -> np.ndarray:
    a = ctx.activations()  # fixes the target
    assert ctx.target is not None
    index, sign = ctx.target.unit, ctx.target.sign
    ablate = ctx.compiled(("ablation", ctx.layer), build_ablation)
    k = a.shape[2]

    def scores(channels: np.ndarray) -> np.ndarray:
        return np.asarray(ablate(ctx.x, channels.astype(np.int32), np.int32(index), np.float32(sign)))

    score = float(scores(np.array([k]))[0])  # channel k does not exist: nothing ablated
    channels = np.arange(k)
    ablated, size = ctx.score_batches(k, lambda start, stop: scores(channels[start:stop]), "Ablation-CAM",
                                      "ablated copy")
    weights = (score - ablated) / (abs(score) if score != 0.0 else 1.0)
    ctx.extra.update(score=score, batch_size=size, channels=k)
    return np.tensordot(a, weights.astype(np.float32), axes=([2], [0]))


def build_ablation(engine: CamEngine, key: Key) -> Any:
    """The ("ablation", layer) pass: x repeated once per entry of `channels`, copy i with channel channels[i] of
    the target layer zeroed (an index past the last channel zeroes none); the target score of each copy."""
    import tensorflow as tf

    target, shape = engine.target_layer(key[1])
    depth = shape[2]

    spec = [signature(engine), tf.TensorSpec((None,), tf.int32), *scalars()]

    @tf.function(input_signature=spec, autograph=False)  # type: ignore[untyped-decorator]
    def ablation(x: Any, channels: Any, index: Any, sign: Any) -> Any:
        engine.trace_counts[key] += 1
        keep = 1.0 - tf.one_hot(channels, depth)  # (n, k)

        def zero_channel(out: Any) -> Any:
            return out * tf.cast(keep, out.dtype)[:, None, None, :]

        _, logits, _ = hooked_call(engine, tf.repeat(x, tf.shape(channels)[0], axis=0), target, edit=zero_channel)
        return sign * logits[:, index]

    return ablation
