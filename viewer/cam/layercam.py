"""LayerCAM (Jiang et al. 2021): per-pixel weights ReLU(grad) times activation, summed over channels."""

import numpy as np

from viewer.cam.base import MethodInfo
from viewer.cam.context import CamContext

INFO = MethodInfo("layercam", "LayerCAM", "LayerCAM: activations weighted by their positive gradient at each pixel",
                  True, aliases=("layer-cam",))


def compute(ctx: CamContext) -> np.ndarray:
    a, g = ctx.gradients()
    cam: np.ndarray = (np.maximum(g, 0.0) * a).sum(axis=2)
    return cam
