"""load_model(): a Keras model file + its sidecar → LoadedModel (prepare, predict, probabilities).

The file checks live in viewer.model.files and the LoadedModel in viewer.model.loaded. TensorFlow and Keras are
imported only when a model is loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewer.errors import ModelError
from viewer.model.device import setup_tensorflow
from viewer.model.files import SUPPORTED, check_file, first_line, load_error
from viewer.model.loaded import LoadedModel
from viewer.model.spec import ModelSpec, read_sidecar, sidecar_path, validate_options


def default_model_path() -> Path:
    """The shipped synthetic demo model (resources/models/demo_phantom_cnn.keras)."""
    from viewer.assets import resource_path

    return resource_path("models", "demo_phantom_cnn.keras")


# ---- loading ----

def load_model(path, *, unsafe: bool = False, overrides: dict | None = None) -> LoadedModel:
    """Load a .keras or full-model .h5 file with its sidecar; `overrides` (CLI options) win over the sidecar.

    Raises ModelError (one line) for anything RadCAM cannot use.
    """
    path = Path(path)
    options = validate_options({k: v for k, v in (overrides or {}).items() if v is not None}, "model options")
    kind = check_file(path)
    sidecar = read_sidecar(path)
    device = setup_tensorflow()
    import keras

    try:
        model = keras.saving.load_model(str(path), compile=False, safe_mode=not unsafe)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
        raise load_error(path, kind, exc) from None
    if not isinstance(model, keras.Model):
        raise ModelError(f"{path}: holds a {type(model).__name__}, not a model; {SUPPORTED}")
    return _wrap(path, model, sidecar, options, device)


def _wrap(path: Path, model, sidecar: dict, options: dict, device: str) -> LoadedModel:
    import keras

    from viewer.model import introspect

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

    merged = {**sidecar, **options}
    if "labels" in options and "labels" in sidecar and "thresholds" in sidecar and "thresholds" not in options:
        # Labels renamed on the command line: the sidecar's thresholds follow their labels by position.
        renamed = dict(zip(sidecar["labels"], options["labels"]))
        merged["thresholds"] = {renamed[k]: v for k, v in sidecar["thresholds"].items() if k in renamed}
    sources = {k: "sidecar" for k in sidecar}
    sources.update({k: "override" for k in options})

    # input size
    model_size = (shape[1], shape[2])
    if "input_size" in merged:
        size = tuple(merged["input_size"])
        if all(model_size) and size != tuple(model_size):
            raise ModelError(f"{path}: input_size {list(size)} does not match the model input {list(model_size)}")
    elif all(model_size):
        size, sources["input_size"] = (int(model_size[0]), int(model_size[1])), "model"
    else:
        raise ModelError(f"{path}: the model input size is not fixed {shape}; give input_size in the sidecar")

    # colour
    if "color_mode" in merged:
        color_mode = merged["color_mode"]
        if (color_mode == "grey") != (channels == 1):
            raise ModelError(f"{path}: color_mode {color_mode!r} does not fit a {channels}-channel model input")
    else:
        color_mode, sources["color_mode"] = ("grey" if channels == 1 else "rgb"), "model"

    # NaN/inf weights (a diverged training, a damaged file) give meaningless scores for every image; ReLUs can
    # even hide them behind finite outputs.
    broken = [w.path for w in model.weights if not np.isfinite(np.asarray(w)).all()]
    if broken:
        raise ModelError(f"{path}: the model's weights hold NaN/inf values ({', '.join(broken[:3])}"
                         f"{', ...' if len(broken) > 3 else ''}); it cannot give meaningful scores")

    # run once: proves the model works and tells the outputs
    try:
        outputs = model(np.zeros((1, size[0], size[1], channels), np.float32), training=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{path}: the model fails on a {size[0]}×{size[1]}×{channels} input "
                         f"({first_line(exc)})") from None
    names, tensors = _outputs(model, outputs)
    output_index = 0
    if len(tensors) > 1:
        wanted = merged.get("output")
        if wanted is None:
            raise ModelError(f"{path}: the model has {len(tensors)} outputs {names}; choose one by name or index "
                             "(sidecar key 'output' or --model-output)")
        if isinstance(wanted, int):
            if not -len(tensors) <= wanted < len(tensors):
                raise ModelError(f"{path}: output {wanted} out of range; outputs are {names}")
            output_index = wanted % len(tensors)
        elif wanted in names:
            output_index = names.index(wanted)
        else:
            raise ModelError(f"{path}: no output named {wanted!r}; outputs are {names}")
    out = np.asarray(tensors[output_index])
    if out.ndim != 2:
        raise ModelError(f"{path}: output {names[output_index]!r} has shape {out.shape}; RadCAM explains class "
                         "scores (batch × classes)")
    n_out = int(out.shape[1])

    # labels
    if "labels" in merged:
        labels = list(merged["labels"])
        if len(labels) != n_out:
            raise ModelError(f"{path}: {len(labels)} labels {labels} for a model with {n_out} outputs")
    else:
        labels = ["positive"] if n_out == 1 else [f"class {i}" for i in range(n_out)]
        sources["labels"] = "default"

    # output kind: the final layer's activation, looking through nested models
    if "output_kind" in merged:
        output_kind = merged["output_kind"]
    else:
        act = introspect.activation_name(introspect.final_layer(model, output_index))
        output_kind = {"sigmoid": "sigmoid", "softmax": "softmax"}.get(act or "", "logits")
        sources["output_kind"] = "model"

    # preprocessing: none when the model rescales/normalises its input itself
    if "preprocess" in merged:
        preprocess = merged["preprocess"]
    else:
        first = introspect.first_layer(model)
        builtin = isinstance(first, (keras.layers.Rescaling, keras.layers.Normalization))
        preprocess, sources["preprocess"] = ("none" if builtin else "unit"), "model"

    thresholds = {label: 0.5 for label in labels}
    unknown = sorted(set(merged.get("thresholds", {})) - set(labels))
    if unknown:
        raise ModelError(f"{path}: thresholds name unknown label(s) {unknown}; labels are {labels}")
    thresholds.update(merged.get("thresholds", {}))

    spec = ModelSpec(
        labels=labels, preprocess=preprocess, color_mode=color_mode, input_size=size, thresholds=thresholds,
        output_kind=output_kind, interpolation=merged.get("interpolation", "antialias"),
        output=names[output_index] if len(tensors) > 1 else merged.get("output"),
        layer=merged.get("layer"), description=merged.get("description"), expects=merged.get("expects"),
        sources=sources,
    )
    if spec.layer is not None and introspect.find_layer(model, spec.layer) is None:
        raise ModelError(f"{path}: no layer named {spec.layer!r} (option 'layer')")
    return LoadedModel(path, model, spec, output_index, n_out, channels, device)


def _outputs(model, outputs) -> tuple[list[str], list]:
    if isinstance(outputs, dict):
        return [str(k) for k in outputs], list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        names = list(getattr(model, "output_names", None) or [])
        if len(names) != len(outputs):
            from viewer.model import introspect

            names = [getattr(layer, "name", f"output_{i}") for i, layer in
                     enumerate(introspect.output_layers(model))]
        if len(names) != len(outputs):
            names = [f"output_{i}" for i in range(len(outputs))]
        return names, list(outputs)
    return [getattr(model, "name", "output")], [outputs]


__all__ = ["LoadedModel", "ModelSpec", "default_model_path", "load_model", "sidecar_path"]
