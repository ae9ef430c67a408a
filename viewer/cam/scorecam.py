"""Score-CAM (Wang et al. 2020): each channel weighted by how much the image masked by it raises the target
probability over a blank image. One masked forward pass per channel, in bounded batches."""

import numpy as np

from viewer.cam.engine import MethodInfo

INFO = MethodInfo("scorecam", "Score-CAM: channels weighted by the score of the image masked by them (slow)", False)


def compute(ctx, channels: np.ndarray | None = None) -> np.ndarray:
    a = ctx.activations()
    if channels is None:
        channels = np.arange(a.shape[2])
    weights = ctx.score_weights(channels)
    return np.tensordot(a[..., channels], weights, axes=([2], [0]))
