"""Spec resolution: the sidecar, the command line and the loaded Keras model → ModelSpec, one field at a time.

Each resolver returns a `Resolved`: the value and where it came from ('sidecar', 'override', 'model' or 'default'),
which `ModelSpec.sources` records for the user. A value the model cannot use is a one-line ModelError naming the
file. The checks run in a fixed order (input, size, colour, weights, output, labels, thresholds, layer), so a file
with several faults always reports the same one first.

Keras is imported only inside the resolvers that need its classes; the model itself is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from viewer.errors import ModelError
from viewer.model.files import SUPPORTED, first_line
from viewer.model.introspect import activation_name, final_layer, find_layer, first_layer, output_layers
from viewer.model.spec import ModelSpec

T = TypeVar("T")


@dataclass(frozen=True)
class Resolved(Generic[T]):
    value: T
    source: str | None  # 'sidecar' | 'override' | 'model' | 'default'; None: a built-in default, not listed


class Given:
    """What the sidecar and the command line say (the command line wins), each value with where it came from."""

    def __init__(self, sidecar: dict[str, Any], options: dict[str, Any]):
        self.values = {**sidecar, **options}
        if "labels" in options and "labels" in sidecar and "thresholds" in sidecar and "thresholds" not in options:
            # Labels renamed on the command line: the sidecar's thresholds follow their labels by position.
            renamed = dict(zip(sidecar["labels"], options["labels"], strict=False))
            self.values["thresholds"] = {renamed[k]: v for k, v in sidecar["thresholds"].items() if k in renamed}
        self.sources = {k: "sidecar" for k in sidecar}
        self.sources.update({k: "override" for k in options})

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: Any = None) -> Resolved:
        """The given value and its source; `default` (not listed in the sources) when neither file nor option says."""
        if key in self.values:
            return Resolved(self.values[key], self.sources[key])
        return Resolved(default, None)


@dataclass(frozen=True)
class ImageInput:
    """The model's one image input: (height, width) — None where not fixed — and its channels (1 or 3)."""

    shape: tuple
    size: tuple
    channels: int


@dataclass(frozen=True)
class ModelOutput:
    """The explained output: its position among the model's outputs, its units, and ModelSpec.output (its name
    when the model has several outputs, else the value given, if any)."""

    index: int
    units: int
    name: str | int | None


# ---- the model's input ----

def image_input(path: Path, model) -> ImageInput:
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) > 1:
        raise ModelError(f"{path}: the model has {len(inputs)} inputs; RadCAM explains models with one image "
                         f"input ({SUPPORTED})")
    shape = tuple(inputs[0].shape) if inputs else None
    if shape is None or len(shape) != 4:
        raise ModelError(f"{path}: the model input {shape} is not an image (expected batch × height × width × "
                         "channels)")
    channels = shape[3]
    if channels not in (1, 3):
        raise ModelError(f"{path}: the model takes {channels} channels; RadCAM feeds 1 (grey) or 3 (colour)")
    return ImageInput(shape, (shape[1], shape[2]), channels)


def resolve_input_size(path: Path, given: Given, image: ImageInput) -> Resolved[tuple[int, int]]:
    model_size = image.size
    if "input_size" in given:
        found = given.get("input_size")
        size = tuple(found.value)
        if all(model_size) and size != tuple(model_size):
            raise ModelError(f"{path}: input_size {list(size)} does not match the model input {list(model_size)}")
        return Resolved(size, found.source)
    if all(model_size):
        return Resolved((int(model_size[0]), int(model_size[1])), "model")
    raise ModelError(f"{path}: the model input size is not fixed {image.shape}; give input_size in the sidecar")


def resolve_color_mode(path: Path, given: Given, channels: int) -> Resolved[str]:
    if "color_mode" in given:
        found = given.get("color_mode")
        if (found.value == "grey") != (channels == 1):
            raise ModelError(f"{path}: color_mode {found.value!r} does not fit a {channels}-channel model input")
        return found
    return Resolved("grey" if channels == 1 else "rgb", "model")


# ---- the weights and the output ----

def check_weights(path: Path, model) -> None:
    """NaN/inf weights (a diverged training, a damaged file) give meaningless scores for every image; ReLUs can
    even hide them behind finite outputs."""
    broken = [w.path for w in model.weights if not np.isfinite(np.asarray(w)).all()]
    if broken:
        raise ModelError(f"{path}: the model's weights hold NaN/inf values ({', '.join(broken[:3])}"
                         f"{', ...' if len(broken) > 3 else ''}); it cannot give meaningful scores")


def resolve_output(path: Path, model, given: Given, size: tuple[int, int], channels: int) -> Resolved[ModelOutput]:
    """Runs the model once on a black image: that proves it works and tells its outputs."""
    try:
        outputs = model(np.zeros((1, size[0], size[1], channels), np.float32), training=False)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
        raise ModelError(f"{path}: the model fails on a {size[0]}×{size[1]}×{channels} input "
                         f"({first_line(exc)})") from None
    names, tensors = output_names(model, outputs)
    wanted = given.get("output")
    index = 0
    if len(tensors) > 1:
        if wanted.value is None:
            raise ModelError(f"{path}: the model has {len(tensors)} outputs {names}; choose one by name or index "
                             "(sidecar key 'output' or --model-output)")
        if isinstance(wanted.value, int):
            if not -len(tensors) <= wanted.value < len(tensors):
                raise ModelError(f"{path}: output {wanted.value} out of range; outputs are {names}")
            index = wanted.value % len(tensors)
        elif wanted.value in names:
            index = names.index(wanted.value)
        else:
            raise ModelError(f"{path}: no output named {wanted.value!r}; outputs are {names}")
    out = np.asarray(tensors[index])
    if out.ndim != 2:
        raise ModelError(f"{path}: output {names[index]!r} has shape {out.shape}; RadCAM explains class "
                         "scores (batch × classes)")
    name = names[index] if len(tensors) > 1 else wanted.value
    return Resolved(ModelOutput(index, int(out.shape[1]), name), wanted.source)


def output_names(model, outputs) -> tuple[list[str], list]:
    """(names, tensors) of whatever the model returned: one tensor, a list or a dict."""
    if isinstance(outputs, dict):
        return [str(k) for k in outputs], list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        names = list(getattr(model, "output_names", None) or [])
        if len(names) != len(outputs):
            names = [getattr(layer, "name", f"output_{i}") for i, layer in
                     enumerate(output_layers(model))]
        if len(names) != len(outputs):
            names = [f"output_{i}" for i in range(len(outputs))]
        return names, list(outputs)
    return [getattr(model, "name", "output")], [outputs]


# ---- reading the output ----

def resolve_labels(path: Path, given: Given, units: int) -> Resolved[list[str]]:
    if "labels" in given:
        found = given.get("labels")
        labels = list(found.value)
        if len(labels) != units:
            raise ModelError(f"{path}: {len(labels)} labels {labels} for a model with {units} outputs")
        return Resolved(labels, found.source)
    return Resolved(["positive"] if units == 1 else [f"class {i}" for i in range(units)], "default")


def resolve_output_kind(given: Given, model, output_index: int) -> Resolved[str]:
    """The final layer's activation, looking through nested models; anything but sigmoid/softmax is logits."""
    if "output_kind" in given:
        return given.get("output_kind")
    act = activation_name(final_layer(model, output_index))
    return Resolved({"sigmoid": "sigmoid", "softmax": "softmax"}.get(act or "", "logits"), "model")


def resolve_preprocess(given: Given, model) -> Resolved[str]:
    """None when the model rescales or normalises its input itself, else 'unit'."""
    if "preprocess" in given:
        return given.get("preprocess")
    import keras

    first = first_layer(model)
    builtin = isinstance(first, (keras.layers.Rescaling, keras.layers.Normalization))
    return Resolved("none" if builtin else "unit", "model")


def resolve_thresholds(path: Path, given: Given, labels: list[str]) -> Resolved[dict[str, float]]:
    found = given.get("thresholds", {})
    unknown = sorted(set(found.value) - set(labels))
    if unknown:
        raise ModelError(f"{path}: thresholds name unknown label(s) {unknown}; labels are {labels}")
    return Resolved({label: 0.5 for label in labels} | found.value, found.source)


def resolve_layer(path: Path, given: Given, model) -> Resolved[str | None]:
    found = given.get("layer")
    if found.value is not None and find_layer(model, found.value) is None:
        raise ModelError(f"{path}: no layer named {found.value!r} (option 'layer')")
    return found


# ---- all of it ----

def resolve_spec(path: Path, model, sidecar: dict[str, Any], options: dict[str, Any]
                 ) -> tuple[ModelSpec, ModelOutput, int]:
    """(spec, explained output, input channels) of a loaded Keras model; `options` win over the sidecar."""
    given = Given(sidecar, options)
    image = image_input(path, model)
    fields: dict[str, Resolved] = {
        "input_size": resolve_input_size(path, given, image),
        "color_mode": resolve_color_mode(path, given, image.channels),
    }
    check_weights(path, model)
    output = resolve_output(path, model, given, fields["input_size"].value, image.channels).value
    fields["labels"] = resolve_labels(path, given, output.units)
    fields["output_kind"] = resolve_output_kind(given, model, output.index)
    fields["preprocess"] = resolve_preprocess(given, model)
    fields["thresholds"] = resolve_thresholds(path, given, fields["labels"].value)
    fields["interpolation"] = given.get("interpolation", "antialias")
    fields["description"] = given.get("description")
    fields["expects"] = given.get("expects")
    fields["layer"] = resolve_layer(path, given, model)
    sources = dict(given.sources)  # every key given, in the sidecar's order, then what the model or defaults set
    sources.update({key: found.source for key, found in fields.items() if found.source is not None})
    spec = ModelSpec(**{key: found.value for key, found in fields.items()}, output=output.name, sources=sources)
    return spec, output, image.channels


__all__ = [
    "Given", "ImageInput", "ModelOutput", "Resolved", "check_weights", "image_input", "output_names",
    "resolve_color_mode", "resolve_input_size", "resolve_labels", "resolve_layer", "resolve_output",
    "resolve_output_kind", "resolve_preprocess", "resolve_spec", "resolve_thresholds",
]
