"""HiResCAM (Draelos & Carin 2020): element-wise gradient × activation, summed over channels."""

import numpy as np

from viewer.cam.base import MethodInfo
from viewer.cam.context import CamContext

INFO = MethodInfo("hirescam", "HiResCAM", "HiResCAM: element-wise gradient × activation (faithful to the score)", True,
                  aliases=("hires-cam",))


def compute(ctx: CamContext) -> np.ndarray:
    a, g = ctx.gradients()
    cam: np.ndarray = (g * a).sum(axis=2)
    return cam
