"""XGrad-CAM (Fu et al. 2020): weights = sum(grad · activation) / sum(activation) per channel."""

import numpy as np

from viewer.cam.engine import MethodInfo

INFO = MethodInfo("xgradcam", "XGrad-CAM: gradients weighted by normalised activations (axiom-based)", True)


def compute(ctx) -> np.ndarray:
    a, g = ctx.gradients()
    total = a.sum(axis=(0, 1))
    weights = (g * a).sum(axis=(0, 1)) / np.where(np.abs(total) > 1e-7, total, np.inf)
    return np.tensordot(a, weights, axes=([2], [0]))
