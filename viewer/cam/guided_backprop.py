"""Guided backpropagation (Springenberg et al. 2015): input gradients through ReLUs that pass only positive
gradients where their input was positive; |gradient|, max over channels, at the model input resolution."""

import numpy as np

from viewer.cam.base import MethodInfo
from viewer.cam.context import CamContext

INFO = MethodInfo("guided-backprop", "Guided backpropagation",
                  "Guided backpropagation: fine pixel detail that raises the score (not class-discriminative)", True,
                  "pixel", needs_layer=False, aliases=("guided_backprop", "guidedbackprop"))


def compute(ctx: CamContext) -> np.ndarray:
    cam: np.ndarray = np.abs(ctx.input_gradients()).max(axis=2)
    return cam
