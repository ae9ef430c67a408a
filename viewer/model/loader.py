"""load_model(): a Keras model file + its sidecar → LoadedModel (prepare, predict, probabilities).

TensorFlow and Keras are imported only when a model is loaded.
"""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from viewer.errors import ModelError
from viewer.model.device import setup_tensorflow
from viewer.model.preprocess import apply_preprocess, resize, to_channels
from viewer.model.spec import ModelSpec, read_sidecar, sidecar_path, validate_options

SUPPORTED = "supported: Keras v3 .keras files and full-model legacy .h5 files (architecture + weights)"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
_MEMO_MAX_BYTES = 64 * 2**20  # larger display images are not kept (the copy would cost more than it saves)


class LoadedModel:
    """A Keras model ready for RadCAM: resolved spec, display-image preparation and prediction."""

    def __init__(self, path: Path, keras_model, spec: ModelSpec, output_index: int, n_outputs: int,
                 channels: int, device: str):
        self.path = Path(path)
        self.name = _model_name(self.path)
        self.keras_model = keras_model
        self.spec = spec
        self.output_index = output_index  # which model output is explained (several-output models)
        self.n_outputs = n_outputs  # units of that output
        self.channels = channels
        self.device = device
        self.lock = threading.RLock()  # hooks on layers are installed under this lock
        self._inputs_memo: tuple | None = None  # (display copy, raw, x) of the last display image

    # ---- resolved fields ----
    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.spec.input_size)

    @property
    def labels(self) -> list[str]:
        return list(self.spec.labels)

    @property
    def output_kind(self) -> str:
        return self.spec.output_kind

    @property
    def single_sigmoid(self) -> bool:
        """One sigmoid (or one-logit) unit: targets are the label and its complement."""
        return self.n_outputs == 1 and self.output_kind in ("sigmoid", "logits")

    @property
    def target_names(self) -> list[str]:
        """Names a CAM can target: the labels, plus the complement of a single sigmoid unit."""
        if self.single_sigmoid:
            label = self.labels[0]
            return [label, "negative" if label == "positive" else f"not {label}"]
        return self.labels

    def resolve_target(self, target: str | int | None, scores: np.ndarray | None = None) -> tuple[int, str, float]:
        """(output unit, target name, sign): sign -1 is the complement of a single sigmoid unit.

        target None → the top-scoring class (for a single unit: the label when p ≥ 0.5, else its complement).
        """
        names = self.target_names
        if target is None:
            if scores is None:
                raise ModelError("no target and no scores to choose the top class from")
            if self.single_sigmoid:
                choice = 0 if float(scores[0]) >= 0.5 else 1
            else:
                choice = int(np.argmax(scores))
        elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            choice = int(target)
            if not -len(names) <= choice < len(names):
                raise ModelError(f"target index {choice} out of range: this model has targets {names}")
            choice %= len(names)
        elif isinstance(target, str):
            text = target.strip()
            lowered = [n.lower() for n in names]
            if text.lower() in lowered:
                choice = lowered.index(text.lower())
            elif self.single_sigmoid and text.lower() == "negative":
                choice = 1
            elif text.lstrip("-").isdigit():
                return self.resolve_target(int(text), scores)
            else:
                raise ModelError(f"unknown target {target!r}; this model's targets are {names}")
        else:
            raise ModelError(f"target must be a label name or index, not {target!r}")
        if self.single_sigmoid:
            return 0, names[choice], (1.0 if choice == 0 else -1.0)
        return choice, names[choice], 1.0

    # ---- input ----
    def model_inputs(self, display: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw, x) for a display image: float32 (1, h, w, c) pixel values in [0, 255] after the resize, and the
        preprocessed model input. Both are read-only.

        The last display image's pair is kept: the viewer explains one image with several methods, targets and
        layers, and the antialiased resize is most of a small model's Grad-CAM time (3 of 7 ms for the demo at
        1024²). A hit needs the same bytes, compared exactly (a hash could confuse two images).
        """
        display = np.asarray(display)
        memo = self._inputs_memo  # one read: another thread may replace it
        if memo is not None and _same_pixels(memo[0], display):
            return memo[1], memo[2]
        image = to_channels(display, self.spec.color_mode)
        raw = np.asarray(resize(image[None], self.input_size, self.spec.interpolation), np.float32)
        x = np.array(self.preprocess(raw), np.float32)  # a copy: 'none' preprocessing returns raw itself
        raw.setflags(write=False)
        x.setflags(write=False)
        if display.nbytes <= _MEMO_MAX_BYTES:
            self._inputs_memo = (display.copy(), raw, x)
        return raw, x

    def forget_inputs(self) -> None:
        """The next model_inputs() prepares from scratch (the benchmark times a new image this way)."""
        self._inputs_memo = None

    def prepare_raw(self, display: np.ndarray) -> np.ndarray:
        """Display uint8 → float32 (1, h, w, c) pixel values in [0, 255], resized, before preprocessing."""
        return self.model_inputs(display)[0]

    def preprocess(self, raw):
        """Raw [0, 255] batch (numpy or tensor) → model input (the spec's preprocessing mode)."""
        return apply_preprocess(raw, self.spec.preprocess, self.spec.color_mode)

    def prepare(self, display: np.ndarray) -> np.ndarray:
        """Display uint8 (H, W) or (H, W, 3) → float32 (1, h, w, c) model input."""
        return self.model_inputs(display)[1]

    # ---- output ----
    def select_output(self, outputs):
        """The explained output from whatever the model returns (tensor, list or dict)."""
        if isinstance(outputs, dict):
            outputs = list(outputs.values())
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[self.output_index]
        return outputs

    def call(self, x):
        """model(x, training=False), the explained output, as a tensor (usable inside tf.function)."""
        return self.select_output(self.keras_model(x, training=False))

    def predict(self, batch) -> np.ndarray:
        """(n, n_out) as the model outputs them (probabilities for sigmoid/softmax heads, logits for 'logits')."""
        out = self.call(np.asarray(batch, np.float32))
        return np.asarray(out, np.float32).reshape(len(batch), -1)

    def check_output(self, scores) -> None:
        """ModelError unless `scores` (model outputs or probabilities for one image) can be shown: finite, and
        in [0, 1] for a sigmoid/softmax head (a sidecar declaring one on a linear head would show logits as
        probabilities)."""
        scores = np.asarray(scores, np.float32)
        if not np.isfinite(scores).all():
            raise ModelError("the model output is NaN/inf for this image (an overflow in the model); "
                             "no score or map can be shown")
        outside = scores[(scores < 0.0) | (scores > 1.0)]
        if self.output_kind != "logits" and outside.size:
            raise ModelError(f"the model output {float(outside[0]):.4g} is not a probability although output_kind "
                             f"is {self.output_kind!r}; set output_kind 'logits' in the sidecar")

    def probabilities(self, raw) -> np.ndarray:
        """Scores in [0, 1] for display: logits heads get sigmoid (one unit) or softmax (several units)."""
        raw = np.asarray(raw, np.float32)
        if self.output_kind != "logits":
            return raw
        if raw.shape[-1] == 1:
            return 1.0 / (1.0 + np.exp(-raw))
        shifted = np.exp(raw - raw.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def predictions(self, display: np.ndarray) -> list[dict[str, Any]]:
        scores = self.probabilities(self.predict(self.prepare(display)))[0]
        self.check_output(scores)
        return [{"index": i, "name": self.labels[i], "score": float(s)} for i, s in enumerate(scores)]

    def __repr__(self) -> str:
        return (f"LoadedModel({self.name!r}, input={self.input_size}x{self.channels}, "
                f"labels={self.labels}, output_kind={self.output_kind!r})")


def _same_pixels(kept: np.ndarray, display: np.ndarray) -> bool:
    """Exactly the same image: shape, type and every value. cv2.norm (largest difference, 0.05 ms at 1024²) for
    8-bit images of 1–4 channels, 2× faster than numpy; numpy for anything else."""
    if kept.shape != display.shape or kept.dtype != display.dtype:
        return False
    if display.dtype == np.uint8 and (display.ndim == 2 or (display.ndim == 3 and display.shape[2] <= 4)):
        return cv2.norm(kept, np.ascontiguousarray(display), cv2.NORM_INF) == 0
    return bool(np.array_equal(kept, display))


def _model_name(path: Path) -> str:
    name = path.name
    for suffix in (".keras", ".h5", ".hdf5"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


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
    kind = _check_file(path)
    sidecar = read_sidecar(path)
    device = setup_tensorflow()
    import keras

    try:
        model = keras.saving.load_model(str(path), compile=False, safe_mode=not unsafe)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
        raise _load_error(path, kind, exc) from None
    if not isinstance(model, keras.Model):
        raise ModelError(f"{path}: holds a {type(model).__name__}, not a model; {SUPPORTED}")
    return _wrap(path, model, sidecar, options, device)


def _check_file(path: Path) -> str:
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            raise ModelError(f"{path}: a TensorFlow SavedModel folder cannot be loaded; {SUPPORTED} "
                             "(re-save it with model.save('model.keras'))")
        raise ModelError(f"{path}: is a folder, not a model file; {SUPPORTED}")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    if head.startswith(_HDF5_MAGIC):
        if suffix not in (".h5", ".hdf5"):
            raise ModelError(f"{path}: an HDF5 file without the .h5 extension; rename it to .h5 ({SUPPORTED})")
        import h5py

        try:
            with h5py.File(path, "r") as f:
                has_config = "model_config" in f.attrs
        except OSError as exc:
            raise ModelError(f"{path}: damaged HDF5 file ({exc}); {SUPPORTED}") from None
        if not has_config:
            raise ModelError(f"{path}: holds weights only (no model architecture); {SUPPORTED} — "
                             "save the whole model (model.save('model.keras'))")
        return "h5"
    if head.startswith(_ZIP_MAGIC):
        if suffix != ".keras":
            raise ModelError(f"{path}: a zip file without the .keras extension; {SUPPORTED}")
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelError(f"{path}: damaged .keras file ({exc})") from None
        if "config.json" not in names:
            raise ModelError(f"{path}: a zip file without a Keras model config; {SUPPORTED}")
        return "keras"
    if suffix == ".pb":
        raise ModelError(f"{path}: a TensorFlow graph/SavedModel file cannot be loaded; {SUPPORTED}")
    raise ModelError(f"{path}: not a Keras model file; {SUPPORTED}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 240 else line[:237] + "..."


def _load_error(path: Path, kind: str, exc: Exception) -> ModelError:
    text = str(exc)
    if "safe_mode" in text or "unsafe" in text.lower() and "deserializ" in text.lower():
        return ModelError(
            f"{path}: needs unsafe deserialisation (it contains a Lambda layer or other Python code that "
            "would run when loading); if you trust its source, load it with --unsafe-model")
    if kind == "h5":
        return ModelError(f"{path}: Keras 3 cannot rebuild this legacy .h5 model ({_first_line(exc)}); "
                          "re-save it as .keras with the Keras version that made it")
    if "Could not locate" in text or "Unknown layer" in text or "custom_object" in text:
        return ModelError(f"{path}: uses a custom layer or object RadCAM does not know ({_first_line(exc)}); "
                          "re-save it without custom code, as .keras")
    return ModelError(f"{path}: cannot load the model ({_first_line(exc)}); {SUPPORTED}")


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
                         f"({_first_line(exc)})") from None
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
