"""Eigen-CAM (Muhammad & Yeasin 2020): the first principal component of the activations (class-agnostic)."""

import numpy as np

from viewer.cam.base import MethodInfo
from viewer.cam.context import CamContext

INFO = MethodInfo("eigencam", "Eigen-CAM",
                  "Eigen-CAM: first principal component of the activations (ignores the target)", False,
                  aliases=("eigen-cam",))


def compute(ctx: CamContext) -> np.ndarray:
    a = ctx.activations().astype(np.float64)
    h, w, k = a.shape
    flat = a.reshape(-1, k)
    centred = flat - flat.mean(axis=0)
    if not np.any(centred):
        return np.zeros((h, w), np.float32)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # k×k: cheaper than an SVD of the (h·w)×k matrix
    projection = centred @ vectors[:, -1]  # first principal component
    total = flat.sum(axis=1)
    # The SVD sign is arbitrary: point the component along the total activation.
    agreement = np.dot(projection - projection.mean(), total - total.mean()) if total.std() > 0 else projection.sum()
    if agreement < 0:
        projection = -projection
    cam: np.ndarray = projection.reshape(h, w).astype(np.float32)
    return cam
