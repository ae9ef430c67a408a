"""Guided Grad-CAM: guided backpropagation × Grad-CAM (upsampled to the model input), pixel resolution."""

import cv2
import numpy as np

from viewer.cam import gradcam, guided_backprop
from viewer.cam.base import MethodInfo, normalise
from viewer.cam.context import CamContext

INFO = MethodInfo("guided-gradcam", "Guided Grad-CAM", "Guided Grad-CAM: guided backpropagation masked by Grad-CAM",
                  True, "pixel", aliases=("guided_gradcam",))


def compute(ctx: CamContext) -> np.ndarray:
    coarse, _ = normalise(gradcam.compute(ctx))  # fixes the target (top class) before the guided pass
    guided, _ = normalise(guided_backprop.compute(ctx))
    h, w = guided.shape
    return guided * np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
