"""HiResCAM (Draelos & Carin 2020): element-wise gradient × activation, summed over channels."""

import numpy as np

from viewer.cam.engine import MethodInfo

INFO = MethodInfo("hirescam", "HiResCAM: element-wise gradient × activation (faithful to the score)", True)


def compute(ctx) -> np.ndarray:
    a, g = ctx.gradients()
    return (g * a).sum(axis=2)
