"""Original CAM (Zhou et al. 2016): the Dense weights of the target class over the last feature maps.

Only for models whose head after the target layer is global average pooling → Dense (else CamError).
"""

import numpy as np

from viewer.cam.engine import MethodInfo

INFO = MethodInfo("cam", "CAM: class weights of a global-average-pooling → Dense head (no gradients)", False)


def compute(ctx) -> np.ndarray:
    weights = ctx.head_weights()
    return np.tensordot(ctx.activations(), weights, axes=([2], [0]))
