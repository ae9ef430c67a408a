"""XGrad-CAM (Fu et al. 2020): weights = sum(grad · activation) / sum(activation) per channel."""

import numpy as np

from viewer.cam.base import MethodInfo
from viewer.cam.context import CamContext

INFO = MethodInfo("xgradcam", "XGrad-CAM", "XGrad-CAM: gradients weighted by normalised activations (axiom-based)",
                  True, aliases=("xgrad-cam",))


def compute(ctx: CamContext) -> np.ndarray:
    a, g = ctx.gradients()
    total = a.sum(axis=(0, 1))
    weights = (g * a).sum(axis=(0, 1)) / np.where(np.abs(total) > 1e-7, total, np.inf)
    return np.tensordot(a, weights, axes=([2], [0]))
