"""CamContext: what a method file works with — one explain() call's inputs, and the shared passes, each run at
most once per call (a method is a small function `compute(ctx) -> map`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.cam.base import QUIET, Reporter, Target
from viewer.cam.batches import score_in_batches

if TYPE_CHECKING:
    from viewer.cam.engine import CamEngine
    from viewer.cam.passes import Builder, Key


class CamContext:
    """One explain() call: the image's model input, the target layer, options, and lazily computed passes.

    Public to method files: `engine`, `layer`, `raw` (1, h, w, c) pixels in [0, 255] after the resize, `x` (the
    model input), `top_n`, `batch_size`, `reporter`, `target` (a `Target`, fixed by the first pass when
    the caller asked for the top class), `probs` (the model's probabilities), `extra` (goes into CamResult.extra);
    `gradients()`, `activations()`, `input_gradients()`, `target_args()`, `compiled(key, build)`,
    `score_batches(...)`."""

    def __init__(self, engine: CamEngine, layer: str | None, raw: np.ndarray, x: np.ndarray,
                 explicit: Target | None, *, top_n: int = 32, batch_size: int | None = None,
                 reporter: Reporter = QUIET) -> None:
        self.engine = engine
        self.layer = layer
        self.raw = raw
        self.x = x
        self.top_n = int(top_n)
        self.batch_size = batch_size
        self.reporter = reporter
        self.probs: np.ndarray | None = None
        self.target: Target | None = explicit  # None until a pass fixes the top class
        self.extra: dict[str, Any] = {}
        self._cache: dict[str, Any] = {}

    # ---- the shared passes ----
    def gradients(self) -> tuple[np.ndarray, np.ndarray]:
        """(activations, gradients of the target logit), each (h, w, k) at the target layer."""
        if "gradients" not in self._cache:
            a, g, probs, index, sign = self.compiled(("gradients", self.layer))(self.x, *self.target_args())
            self._set_probs(probs)
            self._set_target(index, sign)
            self._cache["gradients"] = (np.asarray(a)[0], np.asarray(g)[0])
            self._cache.setdefault("activations", self._cache["gradients"][0])
        pair: tuple[np.ndarray, np.ndarray] = self._cache["gradients"]
        return pair

    def preset_gradients(self, activations: np.ndarray, gradients: np.ndarray, probs: np.ndarray) -> None:
        """This call's gradients pass, already run for several targets at once (viewer.cam.multi): the method
        reads them through gradients() as if it had run the pass itself."""
        self._set_probs(probs[None])
        self._cache["gradients"] = (activations, gradients)
        self._cache.setdefault("activations", activations)

    def activations(self) -> np.ndarray:
        """Target-layer activations (h, w, k) (forward pass only); fixes the target."""
        if "activations" not in self._cache:
            a, probs = self.compiled(("forward", self.layer))(self.x)
            self._set_probs(probs)
            if self.target is None:
                self.target = Target.resolve(self.engine.model, None, self.probs)
            self._cache["activations"] = np.asarray(a)[0]
        activations: np.ndarray = self._cache["activations"]
        return activations

    def input_gradients(self) -> np.ndarray:
        """Guided-backpropagation gradients of the target logit w.r.t. the model input (h, w, c)."""
        if "guided" not in self._cache:
            g, probs, index, sign = self.compiled(("guided",))(self.x, *self.target_args())
            self._set_probs(probs)
            self._set_target(index, sign)
            self._cache["guided"] = np.asarray(g)[0]
        guided: np.ndarray = self._cache["guided"]
        return guided

    # ---- for methods with passes of their own ----
    def compiled(self, key: Key, build: Builder | None = None) -> Callable[..., Any]:
        """The concrete function of pass `key`, traced once per engine: `build(engine, key)` makes it (default:
        the shared table, viewer.cam.passes.PASSES[key[0]])."""
        function: Callable[..., Any] = self.engine.compiled(key, build)
        return function

    def target_args(self) -> tuple[np.int32, np.float32]:
        """(index, sign) for a targeted pass: (-1, 0) asks the pass for the top class."""
        if self.target is None:
            return np.int32(-1), np.float32(0.0)
        return np.int32(self.target.unit), np.float32(self.target.sign)

    def score_batches(self, count: int, score: Callable[[int, int], np.ndarray], what: str,
                      unit: str) -> tuple[np.ndarray, int]:
        """viewer.cam.batches.score_in_batches with this call's batch_size and reporter (progress to 99 %):
        (scores, the batch size used)."""
        return score_in_batches(self.engine, count, score, batch_size=self.batch_size, reporter=self.reporter,
                                what=what, unit=unit, share=0.99)

    # ---- bookkeeping ----
    def _set_probs(self, probs: Any) -> None:
        self.probs = np.asarray(probs)[0]
        self.engine.model.check_output(self.probs)  # before any map is made from a NaN/inf pass

    def _set_target(self, index: Any, sign: Any) -> None:
        if self.target is None:
            self.target = Target.chosen(self.engine.model, index, sign)
