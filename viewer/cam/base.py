"""The values every CAM module shares: what a method is (MethodInfo), a candidate layer (LayerInfo), what a map
explains (Target), an explanation (CamResult), and the map normalisation; Reporter and its kin come from viewer.progress
(re-exported here). No TensorFlow, no engine:
method files, the engine and the registry all import this module, and it imports none of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from viewer.errors import ModelError
from viewer.progress import (
    QUIET as QUIET,
    Cancelled as Cancelled,
    Muted as Muted,
    Part as Part,
    Quiet as Quiet,
    Reporter as Reporter,
)

if TYPE_CHECKING:
    from viewer.model.loaded import LoadedModel

# Layers that only pool or pass values through: the default target layer steps back over a trailing run of these
# (e.g. conv2d_4 → max_pooling2d_4 → dropout_4 gives conv2d_4, 5×5, rather than dropout_4, 2×2), and the original
# CAM looks past them for its GAP → Dense head.
PASS_THROUGH = ("MaxPooling2D", "AveragePooling2D", "Dropout", "SpatialDropout2D", "GaussianNoise",
                "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity")

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


@dataclass(frozen=True)
class Target:
    """What a map explains: the model's output `unit`, the target's `name`, and `sign`: -1 explains the complement
    ("not X") of a single sigmoid unit, whose probability is 1 − p. The top-class and complement rules are written
    here and nowhere else (the compiled passes' `auto_target` picks the top class the same way inside TensorFlow)."""

    unit: int
    name: str
    sign: Literal[1, -1] = 1

    @property
    def index(self) -> int:
        """Its place in the model's target names: a single sigmoid unit's complement comes right after its label."""
        return self.unit if self.sign > 0 else self.unit + 1

    def probability(self, scores: Any) -> np.ndarray:
        """The target's probability in each row of (n, n_out) probabilities (or in one row), float64."""
        p = np.asarray(scores, np.float64)[..., self.unit]
        return 1.0 - p if self.sign < 0 else p

    def as_dict(self) -> dict[str, Any]:
        """What JSON records of an explanation write: {"index", "name"}."""
        return {"index": self.index, "name": self.name}

    @classmethod
    def at(cls, model: LoadedModel, index: int) -> Target:
        """The target at `index` of `model.target_names`."""
        names = model.target_names
        if model.single_sigmoid:
            return cls(0, names[index], 1 if index == 0 else -1)
        return cls(index, names[index])

    @classmethod
    def chosen(cls, model: LoadedModel, unit: Any, sign: Any) -> Target:
        """The target a compiled pass chose (unit and sign as the pass returns them)."""
        return cls.at(model, int(unit) if float(sign) > 0 else int(unit) + 1)

    @classmethod
    def resolve(cls, model: LoadedModel, target: str | int | None, scores: Any = None) -> Target:
        """A requested target: a name, an index of `model.target_names`, or None → the top-scoring class of
        `scores` (for a single sigmoid unit: the label when p ≥ 0.5, else its complement)."""
        names = model.target_names
        if target is None:
            if scores is None:
                raise ModelError("no target and no scores to choose the top class from")
            if model.single_sigmoid:
                return cls.at(model, 0 if float(scores[0]) >= 0.5 else 1)
            return cls.at(model, int(np.argmax(scores)))
        if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            choice = int(target)
            if not -len(names) <= choice < len(names):
                raise ModelError(f"target index {choice} out of range: this model has targets {names}")
            return cls.at(model, choice % len(names))
        if isinstance(target, str):
            text = target.strip()
            lowered = [n.lower() for n in names]
            if text.lower() in lowered:
                return cls.at(model, lowered.index(text.lower()))
            if model.single_sigmoid and text.lower() == "negative":
                return cls.at(model, 1)
            if text.lstrip("-").isdigit():
                return cls.resolve(model, int(text), scores)
            raise ModelError(f"unknown target {target!r}; this model's targets are {names}")
        raise ModelError(f"target must be a label name or index, not {target!r}")


@dataclass
class CamResult:
    cam: np.ndarray  # float32 (H, W) at the original image size, in [0, 1]
    cam_feature: np.ndarray  # float32 map at the method's resolution (target layer grid, or model input for guided)
    predictions: list[dict[str, Any]]  # [{index, name, score}] model probabilities
    target: Target
    layer: str
    method: str
    device: str
    timings_ms: dict[str, float]
    empty: bool = False  # the map is all zero or constant: it localises nothing (see normalise)
    extra: dict[str, Any] = field(default_factory=dict)


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
