"""Grad-CAM (Selvaraju et al. 2017): channel weights = spatial mean of d(logit)/d(activation)."""

import numpy as np

from viewer.cam.base import MethodInfo
from viewer.cam.context import CamContext

INFO = MethodInfo("gradcam", "Grad-CAM", "Grad-CAM: activations weighted by their mean gradient", True,
                  aliases=("grad-cam",))


def compute(ctx: CamContext) -> np.ndarray:
    a, g = ctx.gradients()
    return np.tensordot(a, g.mean(axis=(0, 1)), axes=([2], [0]))
