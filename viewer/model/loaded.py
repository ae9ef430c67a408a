"""LoadedModel: a Keras model with its resolved spec — display-image preparation (with the model-input memo),
prediction, probabilities and target names (viewer.cam.Target resolves a requested target). Built by
viewer.model.loader.load_model.

Importing this module imports no TensorFlow: the Keras model comes in loaded, and probabilities() reaches for
TensorFlow only when handed a tensor, which exists only once TensorFlow is loaded.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from viewer.errors import ModelError
from viewer.model.preprocess import apply_preprocess, resized_channels
from viewer.model.spec import ModelSpec

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
        height, width = self.spec.input_size
        return height, width

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
        raw, x = self._inputs(display)
        raw.setflags(write=False)
        x.setflags(write=False)
        if display.nbytes <= _MEMO_MAX_BYTES:
            self._inputs_memo = (display.copy(), raw, x)
        return raw, x

    def prepare_fresh(self, display: np.ndarray) -> np.ndarray:
        """As prepare(), without the memo: the pre-scan sees each image once, on several threads, and must not
        evict the image the viewer is explaining."""
        return self._inputs(np.asarray(display))[1]

    def _inputs(self, display: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = resized_channels(display, self.spec.color_mode, self.input_size, self.spec.interpolation)
        x = np.array(self.preprocess(raw), np.float32)  # a copy: 'none' preprocessing returns raw itself
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

    def probabilities(self, scores: Any) -> Any:
        """Scores in [0, 1] for display: logits heads get sigmoid (one unit) or softmax (several units).

        The one rule for the whole viewer: numpy in (model outputs, (n, n_out) or one row), float32 numpy out; a
        TensorFlow tensor in (inside a compiled pass), a tensor out, with TensorFlow's own sigmoid/softmax. One
        unit or several is the model's output (n_outputs), not the array's last axis, which a traced reshape can
        leave unknown.
        """
        tensor = _is_tensor(scores)
        if not tensor:
            scores = np.asarray(scores, np.float32)
        if self.output_kind != "logits":
            return scores
        if tensor:
            import tensorflow as tf

            return tf.sigmoid(scores) if self.n_outputs == 1 else tf.nn.softmax(scores, axis=-1)
        if self.n_outputs == 1:
            return 1.0 / (1.0 + np.exp(-scores))
        shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def predictions(self, display: np.ndarray) -> list[dict[str, Any]]:
        scores = self.probabilities(self.predict(self.prepare(display)))[0]
        self.check_output(scores)
        return self.prediction_rows(scores)

    def prediction_rows(self, scores) -> list[dict[str, Any]]:
        """[{index, name, score}] for one image's probabilities: what predictions(), CamEngine.predict and
        CamResult.predictions report."""
        labels = self.labels
        return [{"index": i, "name": labels[i], "score": float(s)} for i, s in enumerate(scores)]

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


def _is_tensor(value) -> bool:
    """A TensorFlow tensor (eager or symbolic); without importing TensorFlow, since none exists before it is."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and bool(tf.is_tensor(value))


__all__ = ["LoadedModel"]
