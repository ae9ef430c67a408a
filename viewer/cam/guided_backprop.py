"""Guided backpropagation (Springenberg et al. 2015): input gradients through ReLUs that pass only positive
gradients where their input was positive; |gradient|, max over channels, at the model input resolution."""

import numpy as np

from viewer.cam.engine import MethodInfo

INFO = MethodInfo("guided-backprop", "Guided backpropagation: fine pixel detail that raises the score "
                  "(not class-discriminative)", True, "pixel", needs_layer=False)


def compute(ctx) -> np.ndarray:
    return np.abs(ctx.input_gradients()).max(axis=2)
