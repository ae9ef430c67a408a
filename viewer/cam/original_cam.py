"""Original CAM (Zhou et al. 2016): the Dense weights of the target class over the last feature maps.

Only for models whose head after the target layer is global average pooling → Dense (else CamError).
"""

import numpy as np

from viewer.cam.base import PASS_THROUGH, MethodInfo
from viewer.cam.context import CamContext
from viewer.errors import CamError

INFO = MethodInfo("cam", "CAM", "CAM: class weights of a global-average-pooling → Dense head (no gradients)", False)


def head_weights(ctx: CamContext) -> np.ndarray:
    """The Dense weights (k,) for the target, when the head after the target layer is GAP → Dense; else CamError."""
    import keras

    engine = ctx.engine
    records = engine.probe()
    names = [layer.name for layer, _ in records]
    after = [layer for layer, _ in records[names.index(ctx.layer) + 1:]
             if not engine.introspect.is_container(layer) and type(layer).__name__ not in PASS_THROUGH]
    ok = (len(after) == 2 and isinstance(after[0], keras.layers.GlobalAveragePooling2D)
          and isinstance(after[1], keras.layers.Dense) and after[1] is engine.final)
    if not ok:
        kinds = " → ".join(type(layer).__name__ for layer in after) or "nothing"
        raise CamError(f"not applicable: the original CAM needs global average pooling → Dense right after "
                       f"layer {ctx.layer!r}; this model has {kinds}")
    ctx.activations()
    assert ctx.target is not None  # fixed by the forward pass
    index, sign = ctx.target.unit, ctx.target.sign
    kernel = np.asarray(after[1].kernel)
    return sign * kernel[:, index]


def compute(ctx: CamContext) -> np.ndarray:
    weights = head_weights(ctx)
    return np.tensordot(ctx.activations(), weights, axes=([2], [0]))
