"""The model sidecar (`<model file>.json`): schema, validation and the resolved `ModelSpec`. No TensorFlow here."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from viewer.errors import ModelError
from viewer.model.domain import validate_expects

# The coded values a sidecar or an option may hold: the Literal types say them once for the type checker, the
# tuples (their values, in this order) for validation and argparse choices.
Preprocess = Literal["none", "unit", "imagenet", "caffe", "tf", "raw"]
ColorMode = Literal["grey", "rgb", "bgr"]
OutputKind = Literal["sigmoid", "softmax", "logits"]
Interpolation = Literal["antialias", "nearest", "bilinear", "area", "bicubic"]
PREPROCESS_MODES: tuple[Preprocess, ...] = get_args(Preprocess)
COLOR_MODES: tuple[ColorMode, ...] = get_args(ColorMode)
OUTPUT_KINDS: tuple[OutputKind, ...] = get_args(OutputKind)
INTERPOLATIONS: tuple[Interpolation, ...] = get_args(Interpolation)
SIDECAR_KEYS = (
    "labels", "preprocess", "color_mode", "input_size", "thresholds", "output_kind",
    "interpolation", "output", "layer", "description", "expects",
)

# Words in a sidecar's description that make the viewer show NOT FOR DIAGNOSIS and exports burn it in.
NOT_FOR_DIAGNOSIS_FLAGS = ("not for diagnosis", "synthetic", "research use only", "not for clinical")


def not_for_diagnosis(description: str | None) -> bool:
    """Whether a model's own description says it is synthetic or not for clinical use (the one rule)."""
    text = (description or "").lower()
    return any(flag in text for flag in NOT_FOR_DIAGNOSIS_FLAGS)


@dataclass
class ModelSpec:
    """Everything RadCAM needs to feed a model and read its answer, after sidecar + overrides + inference."""

    labels: list[str]
    preprocess: Preprocess = "unit"
    color_mode: ColorMode = "grey"
    input_size: tuple[int, int] = (224, 224)
    thresholds: dict[str, float] = field(default_factory=dict)
    output_kind: OutputKind = "sigmoid"
    interpolation: Interpolation = "antialias"
    output: str | int | None = None
    layer: str | None = None
    description: str | None = None
    expects: dict[str, Any] | None = None  # the images the model is made for (viewer.model.domain); None: not said
    sources: dict[str, str] = field(default_factory=dict)  # field -> 'sidecar' | 'override' | 'model' | 'default'

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d


def sidecar_path(model_path: str | Path) -> Path:
    path = Path(model_path)
    return path.with_name(path.name + ".json")


def read_sidecar(model_path: str | Path) -> dict[str, Any]:
    """The sidecar beside the model, validated; {} when there is none."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: model sidecar is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: model sidecar must be a JSON object, not {type(data).__name__}")
    return validate_options(data, where=str(path))


def validate_options(options: dict[str, Any], where: str = "model options") -> dict[str, Any]:
    """Check keys and value types/ranges of a sidecar or override dict; returns a normalised copy (None values
    dropped)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in SIDECAR_KEYS:
            raise ModelError(f"{where}: unknown key {key!r}; known keys: {', '.join(SIDECAR_KEYS)}")
        if value is None:
            continue
        out[key] = _validate_value(key, value, where)
    if "thresholds" in out and "labels" in out:
        unknown = sorted(set(out["thresholds"]) - set(out["labels"]))
        if unknown:
            raise ModelError(f"{where}: thresholds name unknown label(s) {unknown}; labels are {out['labels']}")
    return out


def _bad(where: str, key: str, value: Any, expected: str) -> ModelError:
    return ModelError(f"{where}: bad value for {key!r}: {value!r} (expected {expected})")


def _validate_value(key: str, value: Any, where: str) -> Any:
    if key == "labels":
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if (not isinstance(value, (list, tuple)) or not value
                or not all(isinstance(v, str) and v.strip() for v in value)):
            raise _bad(where, key, value, "a non-empty list of label names")
        if len(set(value)) != len(value):
            raise _bad(where, key, value, "label names without duplicates")
        return [str(v) for v in value]
    if key in ("preprocess", "color_mode", "output_kind", "interpolation"):
        choices = {"preprocess": PREPROCESS_MODES, "color_mode": COLOR_MODES,
                   "output_kind": OUTPUT_KINDS, "interpolation": INTERPOLATIONS}[key]
        v = value.lower() if isinstance(value, str) else value
        if key == "color_mode" and v in ("gray", "greyscale", "grayscale", "l"):
            v = "grey"
        if v not in choices:
            raise _bad(where, key, value, "one of " + ", ".join(choices))
        return v
    if key == "input_size":
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value, value]
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 8192 for v in value)):
            raise _bad(where, key, value, "[height, width], integers from 8 to 8192")
        return (int(value[0]), int(value[1]))
    if key == "thresholds":
        if not isinstance(value, dict):
            raise _bad(where, key, value, "an object {label: threshold}")
        out = {}
        for label, t in value.items():
            if (not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t)
                    or not 0.0 <= t <= 1.0):
                raise _bad(where, key, value, f"thresholds in [0, 1]; {label!r} has {t!r}")
            out[str(label)] = float(t)
        return out
    if key == "output":
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise _bad(where, key, value, "an output name or index")
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return value
    if key == "layer":
        if not isinstance(value, str) or not value:
            raise _bad(where, key, value, "a layer name")
        return value
    if key == "description":
        if not isinstance(value, str):
            raise _bad(where, key, value, "free text")
        return value
    if key == "expects":
        return validate_expects(value, where)
    raise AssertionError(key)  # pragma: no cover
