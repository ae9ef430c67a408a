"""LayerCAM (Jiang et al. 2021): per-pixel weights ReLU(grad) times activation, summed over channels."""

import numpy as np

from viewer.cam.engine import MethodInfo

INFO = MethodInfo("layercam", "LayerCAM: activations weighted by their positive gradient at each pixel", True)


def compute(ctx) -> np.ndarray:
    a, g = ctx.gradients()
    return (np.maximum(g, 0.0) * a).sum(axis=2)
