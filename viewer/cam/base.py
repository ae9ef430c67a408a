"""The values every CAM module shares: what a method is (MethodInfo), a candidate layer (LayerInfo), an explanation
(CamResult), cancellation, and the map normalisation. No TensorFlow, no engine: method files, the engine and the
registry all import this module, and it imports none of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

# Layers that only pool or pass values through: the default target layer steps back over a trailing run of these
# (e.g. conv2d_4 → max_pooling2d_4 → dropout_4 gives conv2d_4, 5×5, rather than dropout_4, 2×2), and the original
# CAM looks past them for its GAP → Dense head.
PASS_THROUGH = ("MaxPooling2D", "AveragePooling2D", "Dropout", "SpatialDropout2D", "GaussianNoise",
                "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity")

# (output unit, label name, sign): sign -1 explains the complement ("not X") of a single sigmoid unit.
TargetTuple = tuple[int, str, float]


class Cancelled(Exception):
    """Raised by a long CAM computation (Score-CAM) when its cancel check returns True."""


@dataclass(frozen=True)
class MethodInfo:
    name: str  # the canonical key: CLI --method, settings, export records
    title: str  # what a person reads: panel captions, the method menu ('Grad-CAM')
    description: str  # one line: 'Title: what it does'
    needs_gradients: bool
    resolution: Literal["feature", "pixel"] = "feature"  # target-layer grid, or the model input grid
    needs_layer: bool = True  # False: works on models without a spatial layer (guided backpropagation)
    aliases: tuple[str, ...] = ()  # other spellings resolve_method() accepts (lower case)


@dataclass(frozen=True)
class LayerInfo:
    name: str
    shape: tuple[int, ...]  # output shape without the batch axis, e.g. (16, 16, 64)
    is_default: bool
    kind: str = ""  # layer class name


@dataclass
class CamResult:
    cam: np.ndarray  # float32 (H, W) at the original image size, in [0, 1]
    cam_feature: np.ndarray  # float32 map at the method's resolution (target layer grid, or model input for guided)
    predictions: list[dict[str, Any]]  # [{index, name, score}] model probabilities
    target: dict[str, Any]  # {index, name}
    layer: str
    method: str
    device: str
    timings_ms: dict[str, float]
    empty: bool = False  # the map is all zero or constant: it localises nothing (see normalise)
    extra: dict[str, Any] = field(default_factory=dict)


def target_probability(probabilities: Any, target: dict[str, Any]) -> np.ndarray:
    """The explained target's probability in each row of (n, n_out) probabilities, for a CamResult.target: the
    complement ("not X") of a single sigmoid unit scores 1 - p."""
    unit = target.get("output_index", target["index"])
    p = np.asarray(probabilities, np.float64)[:, int(unit)]
    return 1.0 - p if target.get("sign", 1) < 0 else p


def normalise(feature: np.ndarray) -> tuple[np.ndarray, bool]:
    """ReLU, then min-max to [0, 1]. A map that localises nothing — all zero, or the same value everywhere —
    becomes zeros with empty=True (a constant map stretched to ones would paint the whole image as evidence).
    NaN/inf stay NaN/inf (never zeroed: explain() refuses such a map rather than show a cleaned one)."""
    feature = np.maximum(np.asarray(feature, np.float32), 0.0)
    top = float(feature.max()) if feature.size else 0.0
    low = float(feature.min()) if feature.size else 0.0
    if top <= 0.0 or top - low <= top * 1e-6:
        return np.zeros_like(feature), True
    return ((feature - low) / (top - low)).astype(np.float32), False
