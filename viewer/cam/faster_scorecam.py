"""Faster Score-CAM: Score-CAM over the top-N channels by spatial activation variance (N = top_n, default 32)."""

import numpy as np

from viewer.cam import scorecam
from viewer.cam.base import MethodInfo
from viewer.cam.context import CamContext

INFO = MethodInfo("faster-scorecam", "Faster Score-CAM",
                  "Faster Score-CAM: Score-CAM on the N most varying channels (default 32)", False,
                  aliases=("fasterscorecam", "faster_scorecam"))


def compute(ctx: CamContext) -> np.ndarray:
    a = ctx.activations()
    if ctx.top_n < 1:
        from viewer.errors import CamError

        raise CamError(f"top_n must be at least 1, got {ctx.top_n}")
    variance = a.reshape(-1, a.shape[2]).var(axis=0)
    channels = np.sort(np.argsort(-variance, kind="stable")[: ctx.top_n])
    return scorecam.compute(ctx, channels)
