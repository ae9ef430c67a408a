"""The CAM engine: one hooked forward/backward pass per image, shared by every method.

How the target layer is reached on any model structure (Sequential, Functional, legacy .h5 Sequential, a base
model nested in a Sequential, preprocessing layers inside): the layer's `call` is wrapped, for the duration of
one model call, by a hook that stores its output and — for gradient methods — watches it on the GradientTape.
The real forward pass therefore runs unchanged; no `Model(inputs, [layer.output, output])` graph is built (that
recipe fails on legacy .h5 Sequentials in Keras 3). The final layer is hooked the same way to read the score
before its sigmoid/softmax (the logit), which is what gradient methods differentiate.

Hooks are installed and removed (try/finally) under the model's lock. Inside a tf.function they only run while
tracing, so the compiled graph keeps them and later calls do not touch the layers. Compiled functions have a
fixed input signature per model, are traced once and kept per (layer, pass kind) as concrete functions;
`trace_counts` counts traces.

TensorFlow is imported lazily.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np

from viewer.errors import CamError

# Layers that only pool or pass values through: the default target layer steps back over a trailing run of these
# (e.g. conv2d_4 → max_pooling2d_4 → dropout_4 gives conv2d_4, 5×5, rather than dropout_4, 2×2).
_PASS_THROUGH = ("MaxPooling2D", "AveragePooling2D", "Dropout", "SpatialDropout2D", "GaussianNoise",
                 "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity")
_DEFAULT_BATCH_BYTES = 256 * 2**20


class Cancelled(Exception):
    """Raised by a long CAM computation (Score-CAM) when its cancel check returns True."""


@dataclass(frozen=True)
class MethodInfo:
    name: str
    description: str
    needs_gradients: bool
    resolution: str = "feature"  # 'feature' (target-layer grid) or 'pixel' (model input grid)
    needs_layer: bool = True  # False: works on models without a spatial layer (guided backpropagation)


@dataclass(frozen=True)
class LayerInfo:
    name: str
    shape: tuple  # output shape without the batch axis, e.g. (16, 16, 64)
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


def target_probability(probabilities, target: dict) -> np.ndarray:
    """The explained target's probability in each row of (n, n_out) probabilities, for a CamResult.target: the
    complement ("not X") of a single sigmoid unit scores 1 - p."""
    unit = target.get("output_index", target["index"])
    p = np.asarray(probabilities, np.float64)[:, int(unit)]
    return 1.0 - p if target.get("sign", 1) < 0 else p


# ---- hooks ----

class _Hooks:
    """Temporarily replace layers' `call` (instance attribute shadows the class method); restore in reverse."""

    def __init__(self):
        self._installed: list[tuple[Any, bool, Any]] = []

    def wrap(self, layer, factory: Callable[[Callable], Callable]) -> None:
        had = "call" in layer.__dict__
        previous = layer.__dict__.get("call")
        original = layer.call  # bound method (or an earlier instance-level wrapper)
        layer.__dict__["call"] = factory(original)
        self._installed.append((layer, had, previous))

    def remove(self) -> None:
        while self._installed:
            layer, had, previous = self._installed.pop()
            if had:
                layer.__dict__["call"] = previous
            else:
                layer.__dict__.pop("call", None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def _swap_activation_call(layer, replacement):
    """A factory: run the layer with `layer.activation` replaced by `replacement` for the call only."""

    def factory(original):
        def call(*args, **kwargs):
            saved = layer.__dict__.get("activation", None)
            had = "activation" in layer.__dict__
            object.__setattr__(layer, "activation", replacement)
            try:
                return original(*args, **kwargs)
            finally:
                if had:
                    object.__setattr__(layer, "activation", saved)
                else:
                    object.__delattr__(layer, "activation")

        return call

    return factory


def _linear(x):
    return x


def _activation_name(fn) -> str:
    return str(getattr(fn, "__name__", None) or type(fn).__name__).lower()


class CamEngine:
    """Explain one LoadedModel's decisions: `predict`, `explain`, `layers`."""

    def __init__(self, loaded_model):
        from viewer.model import introspect
        from viewer.model.device import setup_tensorflow

        self.model = loaded_model
        self.device = setup_tensorflow()
        self._introspect = introspect
        self._lock = getattr(loaded_model, "lock", None) or threading.RLock()
        self._functions: dict[tuple, Any] = {}
        self.trace_counts: Counter = Counter()
        self._records: list[tuple[Any, tuple]] | None = None
        self._final = introspect.final_layer(loaded_model.keras_model, loaded_model.output_index)
        self.score_batch_limit: int | None = None  # Score-CAM batch size that fitted after running out of memory
        self._blank_probs: np.ndarray | None = None  # probabilities of the all-black input (Score-CAM baseline)

    # ---- probe: which layers give spatial maps ----
    def _probe(self) -> list[tuple[Any, tuple]]:
        if self._records is not None:
            return self._records
        records: list[tuple[Any, tuple]] = []
        h, w = self.model.input_size
        with self._lock, _Hooks() as hooks:
            for layer in self._introspect.walk(self.model.keras_model):
                def factory(original, layer=layer):
                    def call(*args, **kwargs):
                        out = original(*args, **kwargs)
                        if hasattr(out, "shape") and not isinstance(out, (list, tuple, dict)):
                            records.append((layer, tuple(int(d) for d in out.shape[1:])))
                        return out

                    return call

                hooks.wrap(layer, factory)
            self.model.call(np.zeros((1, h, w, self.model.channels), np.float32))
        seen: dict[int, int] = {}
        for i, (layer, _shape) in enumerate(records):
            seen[id(layer)] = i  # a layer called twice (shared) counts at its last call
        self._records = [records[i] for i in sorted(seen.values())]
        return self._records

    @staticmethod
    def _spatial(shape: tuple) -> bool:
        return len(shape) == 3 and shape[0] * shape[1] > 1

    def default_layer(self) -> str:
        if self.model.spec.layer:
            return self.model.spec.layer
        leaves = [(layer, shape) for layer, shape in self._probe()
                  if self._spatial(shape) and not self._introspect.is_container(layer)]
        if not leaves:
            raise CamError(f"{self.model.name}: no layer with a spatial (4-D) output; class-activation maps need "
                           "a convolutional model (guided-backprop works without one)")
        i = len(leaves) - 1
        while i > 0 and type(leaves[i][0]).__name__ in _PASS_THROUGH:
            i -= 1
        if type(leaves[i][0]).__name__ in _PASS_THROUGH:
            i = len(leaves) - 1
        return leaves[i][0].name

    def layers(self) -> list[LayerInfo]:
        """Layers whose output is a spatial map (in execution order); any of them can be the target layer."""
        default = self.default_layer()
        return [LayerInfo(layer.name, shape, layer.name == default, type(layer).__name__)
                for layer, shape in self._probe() if self._spatial(shape)]

    def _target_layer(self, name: str | None):
        name = name or self.default_layer()
        for layer, shape in self._probe():
            if layer.name == name:
                if not self._spatial(shape):
                    raise CamError(f"layer {name!r} has output shape {shape}, not a spatial map; choose one of "
                                   f"{[l.name for l in self.layers()]}")
                return layer, shape
        raise CamError(f"no layer named {name!r} in {self.model.name}; spatial layers: "
                       f"{[l.name for l in self.layers()]}")

    # ---- the hooked model call (runs eagerly or while tracing) ----
    def _hooked_call(self, x, target=None, tape=None, guided=False):
        """model(x) with hooks; returns (target activation or None, logits (n, n_out), probabilities (n, n_out))."""
        import tensorflow as tf

        store: dict[str, Any] = {}
        final = self._final
        with _Hooks() as hooks:
            if target is not None:
                def target_factory(original):
                    def call(*args, **kwargs):
                        out = original(*args, **kwargs)
                        if tape is not None:
                            tape.watch(out)
                        store["activation"] = out
                        return out

                    return call

                hooks.wrap(target, target_factory)
            if guided:
                self._install_guided(hooks)
            if final is not None and self.model.output_kind != "logits":
                act = getattr(final, "activation", None)
                name = _activation_name(act) if act is not None else ""
                import keras

                if isinstance(final, keras.layers.Softmax):
                    def softmax_factory(original):
                        def call(inputs, *args, **kwargs):
                            store["logits"] = inputs
                            return original(inputs, *args, **kwargs)

                        return call

                    hooks.wrap(final, softmax_factory)
                elif name in ("sigmoid", "softmax"):
                    inner = _swap_activation_call(final, _linear)

                    def logit_factory(original, act=act, inner=inner):
                        linear_call = inner(original)

                        def call(*args, **kwargs):
                            z = linear_call(*args, **kwargs)
                            store["logits"] = z
                            return act(z)

                        return call

                    hooks.wrap(final, logit_factory)
            output = self.model.call(x)
        output = tf.cast(tf.reshape(output, (tf.shape(output)[0], -1)), tf.float32)
        probs = self._probabilities(output)
        logits = store.get("logits")
        if logits is not None:
            logits = tf.cast(tf.reshape(logits, tf.shape(output)), tf.float32)
        elif self.model.output_kind == "logits":
            logits = output
        elif self.model.output_kind == "softmax":
            logits = tf.math.log(tf.clip_by_value(output, 1e-7, 1.0))
        else:  # sigmoid head whose pre-activation could not be hooked: invert the sigmoid
            p = tf.clip_by_value(output, 1e-7, 1.0 - 1e-7)
            logits = tf.math.log(p) - tf.math.log1p(-p)
        return store.get("activation"), logits, probs

    def _probabilities(self, output):
        import tensorflow as tf

        if self.model.output_kind != "logits":
            return output
        if self.model.n_outputs == 1:
            return tf.sigmoid(output)
        return tf.nn.softmax(output, axis=-1)

    def _install_guided(self, hooks: _Hooks) -> None:
        """Guided backpropagation: every ReLU passes back only positive gradients where its input was positive."""
        import keras
        import tensorflow as tf

        @tf.custom_gradient
        def guided_relu(x):
            y = tf.nn.relu(x)

            def grad(dy):
                return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(x > 0, dy.dtype)

            return y, grad

        for layer in self._introspect.walk(self.model.keras_model):
            if layer is self._final:
                continue
            if isinstance(layer, keras.layers.ReLU):
                if (layer.max_value is None and not layer.negative_slope and not layer.threshold):
                    hooks.wrap(layer, lambda original: (lambda inputs, *a, **k: guided_relu(inputs)))
            elif _activation_name(getattr(layer, "activation", None)) == "relu":
                hooks.wrap(layer, _swap_activation_call(layer, guided_relu))

    # ---- compiled passes ----
    def _signature(self, batch=1):
        import tensorflow as tf

        h, w = self.model.input_size
        return tf.TensorSpec((batch, h, w, self.model.channels), tf.float32)

    def _auto_target(self, probs, index, sign):
        """index < 0: the top class (single sigmoid unit: the label if p ≥ 0.5 else its complement)."""
        import tensorflow as tf

        top = tf.cast(tf.argmax(probs[0]), tf.int32)
        index = tf.where(index < 0, top, index)
        auto_sign = tf.where(probs[0, 0] >= 0.5, 1.0, -1.0) if self.model.single_sigmoid else tf.constant(1.0)
        sign = tf.where(tf.equal(sign, 0.0), auto_sign, sign)
        return index, sign

    def _function(self, key: tuple):
        """The compiled pass for `key`, traced once. The concrete function is kept, not the tf.function: calling
        it skips the signature dispatch, 0.3–0.5 ms a call (a tenth of the demo model's Grad-CAM)."""
        fn = self._functions.get(key)
        if fn is None:
            fn = self._functions[key] = self._build(key).get_concrete_function()
        return fn

    def _build(self, key: tuple):
        import tensorflow as tf

        kind = key[0]
        # autograph=False: these bodies have no tensor-dependent Python control flow, and AutoGraph needs the
        # source code, which a frozen bundle does not ship (it warned on every trace there).
        scalar_i, scalar_f = tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.float32)
        if kind == "gradients":
            target, _ = self._target_layer(key[1])

            @tf.function(input_signature=[self._signature(), scalar_i, scalar_f], autograph=False)
            def gradients(x, index, sign):
                self.trace_counts[key] += 1
                with tf.GradientTape() as tape:
                    activation, logits, probs = self._hooked_call(x, target, tape)
                    index_, sign_ = self._auto_target(probs, index, sign)
                    score = sign_ * logits[0, index_]
                grads = tape.gradient(score, activation)
                if grads is None:
                    raise CamError(f"the score does not depend on layer {target.name!r}")
                return activation, grads, probs, index_, sign_

            return gradients
        if kind == "forward":
            target, _ = self._target_layer(key[1])

            @tf.function(input_signature=[self._signature()], autograph=False)
            def forward(x):
                self.trace_counts[key] += 1
                activation, _logits, probs = self._hooked_call(x, target)
                return activation, probs

            return forward
        if kind == "guided":
            @tf.function(input_signature=[self._signature(), scalar_i, scalar_f], autograph=False)
            def guided(x, index, sign):
                self.trace_counts[key] += 1
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    _, logits, probs = self._hooked_call(x, None, None, guided=True)
                    index_, sign_ = self._auto_target(probs, index, sign)
                    score = sign_ * logits[0, index_]
                return tape.gradient(score, x), probs, index_, sign_

            return guided
        if kind == "predict":
            @tf.function(input_signature=[self._signature(None)], autograph=False)
            def predict(x):
                self.trace_counts[key] += 1
                return self._probabilities(tf.cast(tf.reshape(self.model.call(x), (tf.shape(x)[0], -1)),
                                                   tf.float32))

            return predict
        if kind == "score":
            h, w = self.model.input_size

            @tf.function(input_signature=[self._signature(), tf.TensorSpec((None, None, None), tf.float32),
                                          scalar_i, scalar_f], autograph=False)
            def score(raw, maps, index, sign):
                """Score-CAM: mask the raw image with each upsampled, min-max normalised map; target probability."""
                self.trace_counts[key] += 1
                masks = tf.image.resize(maps[..., None], (h, w), method="bilinear")
                low = tf.reduce_min(masks, axis=(1, 2, 3), keepdims=True)
                span = tf.reduce_max(masks, axis=(1, 2, 3), keepdims=True) - low
                masks = tf.where(span > 0, (masks - low) / tf.where(span > 0, span, 1.0), 0.0)
                x = self.model.preprocess(raw * masks)
                probs = self._probabilities(tf.cast(tf.reshape(self.model.call(x), (tf.shape(x)[0], -1)),
                                                    tf.float32))
                p = probs[:, index]
                return tf.where(sign > 0, p, 1.0 - p)

            return score
        raise AssertionError(kind)

    # ---- public API ----
    def predict(self, display: np.ndarray) -> list[dict[str, Any]]:
        """[{index, name, score}] the model's probabilities for a display image."""
        x = self.model.prepare(display)
        with self._lock:
            probs = np.asarray(self._function(("predict",))(x))[0]
        self.model.check_output(probs)
        return self._predictions(probs)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(n, n_out) probabilities for a batch of model inputs (n, h, w, c), compiled once for any n."""
        with self._lock:
            return np.asarray(self._function(("predict",))(np.asarray(x, np.float32)))

    def _predictions(self, probs: np.ndarray) -> list[dict[str, Any]]:
        return [{"index": i, "name": self.model.labels[i], "score": float(s)} for i, s in enumerate(probs)]

    def explain(self, display: np.ndarray, method: str = "gradcam", target=None, layer: str | None = None,
                top_n: int = 32, batch_size: int | None = None,
                progress: Callable[[float], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> CamResult:
        """A class-activation map of `display` (uint8 H×W or H×W×3) for `target` (label name/index; None = top)."""
        from viewer.cam.registry import get_method, resolve_method

        name = resolve_method(method)
        start = time.perf_counter()
        display = np.asarray(display)
        raw, x = self.model.model_inputs(display)
        t_pre = time.perf_counter()
        info = get_method(name).INFO
        layer_name = self._target_layer(layer)[0].name if info.needs_layer or layer else None
        explicit = None
        if target is not None:
            explicit = self.model.resolve_target(target)
        ctx = _Context(self, layer_name, raw, x, explicit, top_n=top_n, batch_size=batch_size,
                       progress=progress, cancel=cancel)
        with self._lock:
            feature = np.asarray(get_method(name).compute(ctx), np.float32)
        if not np.isfinite(feature).all():
            raise CamError(f"the {name} map is NaN/inf for this image: the model's activations or gradients "
                           f"overflow at layer {layer_name or 'input'!r}")
        index, tname, sign = ctx.target
        feature, empty = normalise(feature)
        height, width = display.shape[:2]
        cam = cv2.resize(feature, (width, height), interpolation=cv2.INTER_LINEAR) if feature.size > 1 \
            else np.full((height, width), float(feature.ravel()[0]) if feature.size else 0.0, np.float32)
        # Bilinear weights are ≥ 0 and the map is in [0, 1]: only rounding can pass 1. cv2 truncates in place,
        # 3× faster than np.clip on a display-sized map.
        cv2.threshold(cam, 1.0, 1.0, cv2.THRESH_TRUNC, dst=cam)
        end = time.perf_counter()
        if progress is not None:
            progress(1.0)
        return CamResult(
            cam=cam, cam_feature=feature, predictions=self._predictions(ctx.probs), target={
                "index": index if sign > 0 or not self.model.single_sigmoid else 1, "name": tname,
                "output_index": index, "sign": int(sign)},
            layer=layer_name if info.needs_layer else "input",
            method=name, device=self.device,
            timings_ms={"preprocess": (t_pre - start) * 1e3, "cam": (end - t_pre) * 1e3}, empty=empty,
            extra=ctx.extra)

    def _score_batch(self, raw, maps: np.ndarray, index: int, sign: float) -> np.ndarray:
        """Score-CAM: the target score of `raw` masked by each of `maps`, in one batched forward pass."""
        return np.asarray(self._function(("score",))(raw, maps, np.int32(index), np.float32(sign)))

    def blank_score(self, index: int, sign: float) -> float:
        """Score-CAM's baseline: the target score of the all-black image (a zero mask), the same for every image,
        so it is computed once per engine."""
        if self._blank_probs is None:
            h, w = self.model.input_size
            blank = np.asarray(self.model.preprocess(np.zeros((1, h, w, self.model.channels), np.float32)),
                               np.float32)
            self._blank_probs = self.probabilities(blank)[0]
        p = float(self._blank_probs[index])
        return p if sign > 0 else 1.0 - p

    def batch_size_for(self, budget_bytes: int = _DEFAULT_BATCH_BYTES) -> int:
        """Images per batch so one batch stays under `budget_bytes` (default ~256 MB; estimate from the probe)."""
        h, w = self.model.input_size
        per_input = h * w * self.model.channels
        largest = max((int(np.prod(s)) for _, s in self._probe()), default=per_input)
        per_sample = 4 * (3 * per_input + 4 * largest)  # raw, mask, input + a few live activations
        return int(max(1, min(256, budget_bytes // per_sample)))


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


class _Context:
    """What a method needs, computed lazily once per explain() call (methods are small functions of this)."""

    def __init__(self, engine: CamEngine, layer: str | None, raw: np.ndarray, x: np.ndarray, explicit, *, top_n,
                 batch_size, progress, cancel):
        self.engine = engine
        self.layer = layer
        self.raw = raw
        self.x = x
        self.explicit = explicit  # (index, name, sign) or None for the top class
        self.top_n = int(top_n)
        self.batch_size = batch_size
        self.progress = progress
        self.cancel = cancel
        self.probs: np.ndarray | None = None
        self.target: tuple[int, str, float] | None = explicit
        self.extra: dict[str, Any] = {}
        self._cache: dict[str, Any] = {}

    def _set_probs(self, probs) -> None:
        self.probs = np.asarray(probs)[0]
        self.engine.model.check_output(self.probs)  # before any map is made from a NaN/inf pass

    def _target_args(self):
        if self.target is None:
            return np.int32(-1), np.float32(0.0)
        return np.int32(self.target[0]), np.float32(self.target[2])

    def _set_target(self, index, sign) -> None:
        if self.target is None:
            index, sign = int(index), float(sign)
            names = self.engine.model.target_names
            self.target = (index, names[1] if (self.engine.model.single_sigmoid and sign < 0) else names[index],
                           sign)

    def gradients(self) -> tuple[np.ndarray, np.ndarray]:
        """(activations, gradients of the target logit), each (h, w, k) at the target layer."""
        if "gradients" not in self._cache:
            fn = self.engine._function(("gradients", self.layer))
            a, g, probs, index, sign = fn(self.x, *self._target_args())
            self._set_probs(probs)
            self._set_target(index, sign)
            self._cache["gradients"] = (np.asarray(a)[0], np.asarray(g)[0])
            self._cache.setdefault("activations", self._cache["gradients"][0])
        return self._cache["gradients"]

    def activations(self) -> np.ndarray:
        """Target-layer activations (h, w, k) (forward pass only)."""
        if "activations" not in self._cache:
            a, probs = self.engine._function(("forward", self.layer))(self.x)
            self._set_probs(probs)
            if self.target is None:
                self.target = self.engine.model.resolve_target(None, self.probs)
            self._cache["activations"] = np.asarray(a)[0]
        return self._cache["activations"]

    def input_gradients(self) -> np.ndarray:
        """Guided-backpropagation gradients of the target logit w.r.t. the model input (h, w, c)."""
        if "guided" not in self._cache:
            g, probs, index, sign = self.engine._function(("guided",))(self.x, *self._target_args())
            self._set_probs(probs)
            self._set_target(index, sign)
            self._cache["guided"] = np.asarray(g)[0]
        return self._cache["guided"]

    def head_weights(self) -> np.ndarray:
        """Original CAM: the Dense weights (k,) for the target, when the head is GAP → Dense; else CamError."""
        import keras

        engine = self.engine
        records = engine._probe()
        names = [layer.name for layer, _ in records]
        after = [layer for layer, _ in records[names.index(self.layer) + 1:]
                 if not engine._introspect.is_container(layer) and type(layer).__name__ not in _PASS_THROUGH]
        ok = (len(after) == 2 and isinstance(after[0], keras.layers.GlobalAveragePooling2D)
              and isinstance(after[1], keras.layers.Dense) and after[1] is engine._final)
        if not ok:
            kinds = " → ".join(type(l).__name__ for l in after) or "nothing"
            raise CamError(f"not applicable: the original CAM needs global average pooling → Dense right after "
                           f"layer {self.layer!r}; this model has {kinds}")
        self.activations()
        index, _name, sign = self.target
        kernel = np.asarray(after[1].kernel)
        return sign * kernel[:, index]

    def score_weights(self, channels: np.ndarray) -> np.ndarray:
        """Score-CAM: target probability of the image masked by each chosen channel, minus the blank score.

        The maps go in batches of equal size (65 maps at 61 per batch as 33 + 32, not 61 + 4: a small last batch
        costs nearly as much as a full one). A batch that runs out of memory is retried at half the size (down to
        1); the size that fitted is kept on the engine for the next call.
        """
        import tensorflow as tf

        activations = self.activations()
        engine = self.engine
        index, _name, sign = self.target
        size = int(self.batch_size or engine.batch_size_for())
        if size < 1:
            raise CamError(f"batch_size must be at least 1, got {size}")
        size = min(size, engine.score_batch_limit or size)
        raw = tf.constant(self.raw)
        maps = np.ascontiguousarray(np.moveaxis(activations[..., channels], -1, 0), np.float32)
        scores = np.empty(len(maps), np.float32)
        start = 0
        while start < len(maps):
            if self.cancel is not None and self.cancel():
                raise Cancelled("Score-CAM cancelled")
            left = len(maps) - start
            even = math.ceil(left / math.ceil(left / size))  # the same size for every remaining batch
            chunk = maps[start:start + even]
            try:
                scores[start:start + len(chunk)] = engine._score_batch(raw, chunk, index, sign)
            except (tf.errors.ResourceExhaustedError, MemoryError):
                if size == 1:
                    raise CamError("Score-CAM ran out of memory even one masked image at a time") from None
                size = engine.score_batch_limit = size // 2
                continue
            start += len(chunk)
            if self.progress is not None:
                self.progress(start / len(maps) * 0.99)
        baseline = engine.blank_score(index, sign)
        self.extra.update(baseline=baseline, batch_size=size, channels=len(channels))
        return scores - baseline
