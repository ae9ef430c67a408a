"""The CAM engine: one hooked forward/backward pass per image, shared by every method.

The target layer is reached by a hook during the model's real forward pass (viewer/cam/hooks.py), on any model
structure: Sequential, Functional, legacy .h5 Sequential, a base model nested in a Sequential, preprocessing
layers inside. Hooks are installed under the model's lock. Compiled passes (viewer/cam/passes.py, or a method's
own builder) have a fixed input signature per model, are traced once and kept per key — (pass kind, layer) — as
concrete functions; `trace_counts` counts traces. A method is a function of a CamContext (viewer/cam/context.py).

TensorFlow is imported lazily.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import cv2
import numpy as np

from viewer.cam.base import PASS_THROUGH, QUIET, CamResult, LayerInfo, Reporter, Target, normalise
from viewer.cam.context import CamContext
from viewer.cam.hooks import Call, Hooks
from viewer.cam.passes import PASSES, Builder, Key
from viewer.cam.registry import get_method, resolve_method
from viewer.errors import CamError

_DEFAULT_BATCH_BYTES = 256 * 2**20


class CamEngine:
    """Explain one LoadedModel's decisions: `predict`, `explain`, `layers`."""

    def __init__(self, loaded_model: Any) -> None:
        from viewer.model import introspect
        from viewer.model.device import setup_tensorflow

        self.model = loaded_model
        self.device = setup_tensorflow()
        self.introspect = introspect
        self._lock = getattr(loaded_model, "lock", None) or threading.RLock()
        self._functions: dict[Key, Any] = {}
        self.trace_counts: Counter[Key] = Counter()
        self._records: list[tuple[Any, tuple[int, ...]]] | None = None
        self.final = introspect.final_layer(loaded_model.keras_model, loaded_model.output_index)
        self.score_batch_limit: int | None = None  # batch size that fitted after running out of memory
        self.memo: dict[str, Any] = {}  # per-engine values a method computes once (Score-CAM's blank score)

    # ---- probe: which layers give spatial maps ----
    def probe(self) -> list[tuple[Any, tuple[int, ...]]]:
        """(layer, output shape without the batch axis) for every layer called, in execution order (once)."""
        if self._records is not None:
            return self._records
        records: list[tuple[Any, tuple[int, ...]]] = []
        h, w = self.model.input_size
        with self._lock, Hooks() as hooks:
            for layer in self.introspect.walk(self.model.keras_model):
                def factory(original: Call, layer: Any = layer) -> Call:
                    def call(*args: Any, **kwargs: Any) -> Any:
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
    def _spatial(shape: tuple[int, ...]) -> bool:
        return len(shape) == 3 and shape[0] * shape[1] > 1

    def default_layer(self) -> str:
        if self.model.spec.layer:
            return str(self.model.spec.layer)
        leaves = [(layer, shape) for layer, shape in self.probe()
                  if self._spatial(shape) and not self.introspect.is_container(layer)]
        if not leaves:
            raise CamError(f"{self.model.name}: no layer with a spatial (4-D) output; class-activation maps need "
                           "a convolutional model (guided-backprop works without one)")
        i = len(leaves) - 1
        while i > 0 and type(leaves[i][0]).__name__ in PASS_THROUGH:
            i -= 1
        if type(leaves[i][0]).__name__ in PASS_THROUGH:
            i = len(leaves) - 1
        return str(leaves[i][0].name)

    def layers(self) -> list[LayerInfo]:
        """Layers whose output is a spatial map (in execution order); any of them can be the target layer."""
        default = self.default_layer()
        return [LayerInfo(layer.name, shape, layer.name == default, type(layer).__name__)
                for layer, shape in self.probe() if self._spatial(shape)]

    def target_layer(self, name: str | None) -> tuple[Any, tuple[int, ...]]:
        """(layer, output shape) of the spatial layer `name` (None: the default); else CamError naming them."""
        name = name or self.default_layer()
        for layer, shape in self.probe():
            if layer.name == name:
                if not self._spatial(shape):
                    raise CamError(f"layer {name!r} has output shape {shape}, not a spatial map; choose one of "
                                   f"{[info.name for info in self.layers()]}")
                return layer, shape
        raise CamError(f"no layer named {name!r} in {self.model.name}; spatial layers: "
                       f"{[info.name for info in self.layers()]}")

    # ---- compiled passes ----
    def compiled(self, key: Key, build: Builder | None = None) -> Any:
        """The compiled pass for `key`, traced once (`build`, default PASSES[key[0]], makes its tf.function). The
        concrete function is kept, not the tf.function: calling it skips the signature dispatch, 0.3–0.5 ms a
        call (a tenth of the demo model's Grad-CAM)."""
        fn = self._functions.get(key)
        if fn is None:
            fn = self._functions[key] = (build or PASSES[key[0]])(self, key).get_concrete_function()
        return fn

    # ---- public API ----
    def predict(self, display: np.ndarray) -> list[dict[str, Any]]:
        """[{index, name, score}] the model's probabilities for a display image."""
        x = self.model.prepare(display)
        with self._lock:
            probs = np.asarray(self.compiled(("predict",))(x))[0]
        self.model.check_output(probs)
        rows: list[dict[str, Any]] = self.model.prediction_rows(probs)
        return rows

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(n, n_out) probabilities for a batch of model inputs (n, h, w, c), compiled once for any n."""
        with self._lock:
            return np.asarray(self.compiled(("predict",))(np.asarray(x, np.float32)))

    def explain(self, display: np.ndarray, method: str = "gradcam", target: Any = None, layer: str | None = None,
                top_n: int = 32, batch_size: int | None = None, reporter: Reporter = QUIET) -> CamResult:
        """A class-activation map of `display` (uint8 H×W or H×W×3) for `target` (label name/index; None = top)."""
        name = resolve_method(method)
        module = get_method(name)
        start = time.perf_counter()
        display = np.asarray(display)
        raw, x = self.model.model_inputs(display)
        t_pre = time.perf_counter()
        info = module.INFO
        layer_name = self.target_layer(layer)[0].name if info.needs_layer or layer else None
        explicit = None
        if target is not None:
            explicit = Target.resolve(self.model, target)
        ctx = CamContext(self, layer_name, raw, x, explicit, top_n=top_n, batch_size=batch_size,
                         reporter=reporter)
        with self._lock:
            feature = np.asarray(module.compute(ctx), np.float32)
        return self.finish(ctx, feature, display, name, start, t_pre, reporter)

    def explain_batch(self, bases: Sequence[np.ndarray], *, method: str = "gradcam", target: Any = None,
                      layer: str | None = None, top_n: int = 32, batch_size: int | None = None,
                      reporter: Reporter = QUIET, pool: Executor | None = None,
                      inputs: Sequence[tuple[np.ndarray, np.ndarray]] | None = None) -> list[CamResult]:
        """explain() of each image, the model run on batches of them (viewer.cam.batch.explain_batch; `inputs`:
        their model inputs, made already)."""
        from viewer.cam.batch import explain_batch

        return explain_batch(self, bases, method=method, target=target, layer=layer, top_n=top_n,
                             batch_size=batch_size, reporter=reporter, pool=pool, inputs=inputs)

    def finish(self, ctx: CamContext, feature: np.ndarray, display: np.ndarray, name: str, start: float,
               t_pre: float, reporter: Reporter = QUIET) -> CamResult:
        """A method's raw map → the CamResult: refused if NaN/inf, normalised, resized to `display`
        (viewer.cam.multi makes several maps from one pass and finishes each here, as explain() does)."""
        info = get_method(name).INFO
        layer_name = ctx.layer
        if not np.isfinite(feature).all():
            raise CamError(f"the {name} map is NaN/inf for this image: the model's activations or gradients "
                           f"overflow at layer {layer_name or 'input'!r}")
        assert ctx.target is not None and ctx.probs is not None  # every method runs a pass that fixes them
        feature, empty = normalise(feature)
        height, width = display.shape[:2]
        cam = cv2.resize(feature, (width, height), interpolation=cv2.INTER_LINEAR) if feature.size > 1 \
            else np.full((height, width), float(feature.ravel()[0]) if feature.size else 0.0, np.float32)
        # Bilinear weights are ≥ 0 and the map is in [0, 1]: only rounding can pass 1. cv2 truncates in place,
        # 3× faster than np.clip on a display-sized map.
        cv2.threshold(cam, 1.0, 1.0, cv2.THRESH_TRUNC, dst=cam)
        end = time.perf_counter()
        reporter.progress(1.0)
        return CamResult(
            cam=cam, cam_feature=feature, predictions=self.model.prediction_rows(ctx.probs), target=ctx.target,
            layer=str(layer_name) if info.needs_layer else "input",
            method=name, device=self.device,
            timings_ms={"preprocess": (t_pre - start) * 1e3, "cam": (end - t_pre) * 1e3}, empty=empty,
            extra=ctx.extra)

    def batch_size_for(self, budget_bytes: int = _DEFAULT_BATCH_BYTES) -> int:
        """Images per batch so one batch stays under `budget_bytes` (default ~256 MB; estimate from the probe)."""
        h, w = self.model.input_size
        per_input = h * w * self.model.channels
        largest = max((int(np.prod(s)) for _, s in self.probe()), default=per_input)
        per_sample = 4 * (3 * per_input + 4 * largest)  # raw, mask, input + a few live activations
        return int(max(1, min(256, budget_bytes // per_sample)))
