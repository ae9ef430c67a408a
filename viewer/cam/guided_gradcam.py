"""Guided Grad-CAM: guided backpropagation × Grad-CAM (upsampled to the model input), pixel resolution."""

import cv2
import numpy as np

from viewer.cam import gradcam, guided_backprop
from viewer.cam.engine import MethodInfo, normalise

INFO = MethodInfo("guided-gradcam", "Guided Grad-CAM: guided backpropagation masked by Grad-CAM", True, "pixel")


def compute(ctx) -> np.ndarray:
    coarse, _ = normalise(gradcam.compute(ctx))  # fixes the target (top class) before the guided pass
    guided, _ = normalise(guided_backprop.compute(ctx))
    h, w = guided.shape
    return guided * np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
