"""Grad-CAM++ (Chattopadhay et al. 2018), closed form with exp(score) (higher derivatives from first ones)."""

import numpy as np

from viewer.cam.base import MethodInfo
from viewer.cam.context import CamContext

INFO = MethodInfo("gradcampp", "Grad-CAM++",
                  "Grad-CAM++: positive gradients weighted per pixel (alpha), better for several objects", True,
                  aliases=("gradcam++", "grad-cam++"))


def compute(ctx: CamContext) -> np.ndarray:
    a, g = ctx.gradients()
    g2, g3 = g ** 2, g ** 3
    denominator = 2.0 * g2 + a.sum(axis=(0, 1)) * g3
    alpha = np.where(g != 0.0, g2 / np.where(denominator != 0.0, denominator, 1e-12), 0.0)
    weights = (alpha * np.maximum(g, 0.0)).sum(axis=(0, 1))
    return np.tensordot(a, weights, axes=([2], [0]))
