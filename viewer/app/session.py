"""What runs on the model thread: TensorFlow, the loaded model and its CAM engine live there and nowhere else.

Nothing here imports TensorFlow at module level; the first load() does (through viewer.model), on the model
thread, after the window is on screen. Every method is a job body: it gets the job's Reporter and passes it (or
a Part of it) on to viewer.cam and viewer.trust.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.errors import ExportError, RadcamError
from viewer.export.explanation import OverlayStyle
from viewer.io import DisplayImage

from .jobs import Part, Reporter
from .prediction_cache import content_sha256
from .prescan import BATCH_SIZE, OnScores, PrescanResult, predict_batch, prescan
from .requests import CompareRequest, ExplainKey, ExplainRequest, ExplainSettings, Explanation, ModelInfo, TrustRequest

if TYPE_CHECKING:
    from viewer.cam import CamEngine, Target
    from viewer.model.loaded import LoadedModel
    from viewer.render import OverlayRenderer
    from viewer.trust import RandomisedModel

    from .exporting import ExportOptions
    from .prediction_cache import PredictionCache
    from .review import Entry

PANEL_SIDE = 768  # px, the longer side of each cell of the method comparison grid (one cell per method)
Baselines = tuple[np.ndarray, "Target", "np.ndarray | None", dict[str, Any]]


def method_help(key: str) -> str:
    from viewer.cam import METHODS

    info = METHODS.get(key)
    return info.description.split(":", 1)[-1].strip().capitalize() if info else ""


class ModelSession:
    """The model thread's state. Only job functions running on that thread call these methods."""

    def __init__(self) -> None:
        self.loaded: LoadedModel | None = None
        self.engine: CamEngine | None = None
        self.randomised: RandomisedModel | None = None  # of the loaded model, made on the first check
        self.top_n = 32  # Score-CAM: how many activation maps are scored
        self.batch_size: int | None = None  # Score-CAM: maps per forward pass (None: the engine decides)
        self.baselines: Baselines | None = None  # (model input, target, region, scores) of the last check's
        self.prefetched: dict[ExplainKey, Explanation] = {}  # the next image's map, made ahead (prefetch)
        self.model_digest: tuple[Path | None, str] = (None, "")  # (model file, its SHA-256): the pre-scan cache's key
        self.prediction_cache: tuple[LoadedModel, PredictionCache] | None = None

    def _engine(self) -> CamEngine:
        if self.engine is None:
            from viewer.errors import ModelError
            raise ModelError("no model is loaded: open one with File → Open Model…")
        return self.engine

    def _loaded(self) -> LoadedModel:
        self._engine()
        assert self.loaded is not None
        return self.loaded

    def load(self, path: Path, unsafe: bool, reporter: Reporter, trusted: frozenset[str] = frozenset()) -> ModelInfo:
        """Load `path`; unsafe deserialisation only when asked or when the user trusted this exact file before."""
        start = time.perf_counter()
        from viewer.cam import CamEngine  # imports TensorFlow the first time: on this thread only
        from viewer.errors import CamError
        from viewer.model import load_model

        # The digest only matters for an unsafe model (remembered trust): no need to read a safe model twice.
        digest = file_sha256(path) if unsafe or trusted else ""
        unsafe = unsafe or (bool(digest) and digest in trusted)
        loaded = load_model(path, unsafe=unsafe)
        engine = CamEngine(loaded)
        try:
            layers = engine.layers()
        except CamError:  # no spatial layer: predictions and guided backprop still work, CAM methods say why not
            layers = []
        self.loaded, self.engine, self.randomised, self.baselines = loaded, engine, None, None
        self.prefetched = {}  # made by the previous model (its key names the path, which may be the same file's)
        self.model_digest = (loaded.path, digest) if digest else (None, "")  # a file changed at the same path
        return ModelInfo(path=Path(path), name=loaded.name, description=loaded.spec.description or "",
                         input_size=tuple(loaded.input_size),
                         channels=loaded.channels, labels=list(loaded.labels), targets=list(loaded.target_names),
                         thresholds=dict(loaded.spec.thresholds), device=engine.device,
                         layers=[(layer.name, f"{layer.name}  {'×'.join(map(str, layer.shape))}") for layer in layers],
                         default_layer=next((layer.name for layer in layers if layer.is_default), ""),
                         load_ms=(time.perf_counter() - start) * 1000, sha256=digest, unsafe=unsafe,
                         expects=loaded.spec.expects)

    def warm_up(self, reporter: Reporter) -> None:
        """Trace the engine's compiled passes (Grad-CAM's and Score-CAM's) on a blank image.

        Tracing a tf.function holds the GIL for a few hundred milliseconds in TensorFlow's C++ graph building;
        done here, right after the first explanation, it does not freeze the UI in the middle of the user's
        first Score-CAM. The passes have a fixed input signature per model: one blank image traces them for all.
        """
        blank = np.zeros(tuple(self._loaded().input_size), np.uint8)
        for method in ("gradcam", "scorecam"):
            if not reporter.cancelled():
                self._engine().explain(blank, method=method, top_n=1)

    def explain(self, request: ExplainRequest, reporter: Reporter) -> Explanation:
        from viewer.render import OverlayRenderer, heatmap

        kept = self.prefetched.pop(request.key, None)
        if kept is not None:  # made ahead for this image and settings: shown without waiting for the model
            return kept
        result = self._engine().explain(request.pixels, method=request.method, target=request.target,
                                        layer=request.layer, top_n=self.top_n, batch_size=self.batch_size,
                                        reporter=reporter)
        style = request.style
        renderer = OverlayRenderer(request.base, result.cam)
        return Explanation(key=request.key, result=result, base=request.base, renderer=renderer,
                           heatmap=heatmap(result.cam, style.colormap), overlay=draw(renderer, style), style=style)

    def prefetch(self, request: ExplainRequest, reporter: Reporter) -> ExplainKey:
        """Explain the image the reader will most likely open next and keep it (only the newest one) until
        explain() is asked for the same key."""
        explanation = self.explain(request, reporter)
        self.prefetched = {request.key: explanation}
        return request.key

    def check(self, request: TrustRequest, reporter: Reporter) -> tuple[ExplainKey, dict[str, Any]]:
        """Faithfulness, randomisation and (with a region) pointing for the map, the baselines scored alike, the
        verdict from them all and, for a model with several labels, every label's map compared."""
        from viewer.trust import RandomisedModel, assess
        from viewer.trust.verdict import judge_report

        engine = self._engine()
        if self.randomised is None:
            self.randomised = RandomisedModel(self._loaded())  # seconds on a large model: once per model
        measures = Part(reporter, 0.0, 0.65)
        report: dict[str, Any] = assess(engine, request.pixels, request.result, randomised=self.randomised,
                                        region=request.region, reporter=measures).to_dict()
        report["baselines"] = self._baselines(request, Part(reporter, 0.65, 0.25))
        report.update(judge_report(report))
        if engine.model.n_outputs > 1:
            report["classes"] = self._classes(request, Part(reporter, 0.9, 0.1))
        return request.key, report

    def _classes(self, request: TrustRequest, reporter: Reporter) -> dict[str, Any] | None:
        """viewer.trust.classes for this image: every label's map from one batched pass, so a method without
        that pass (Score-CAM, Eigen-CAM, guided backprop…) is compared through Grad-CAM at its layer (the report's
        "method" says which). With a box, each label's map is pointed into it. None when no map can be made."""
        from viewer.cam.multi import SHARED_PASS
        from viewer.trust.classes import explain_classes

        result = request.result
        method = result.method if result.method in SHARED_PASS else "gradcam"
        names = self._loaded().target_names[:self._loaded().n_outputs]
        regions = {name: request.region for name in names} if request.region is not None else None
        try:
            layer = result.layer if result.layer in {found.name for found in self._engine().layers()} else None
            return explain_classes(self._engine(), request.pixels, method, layer=layer, regions=regions,
                                   reporter=reporter).to_dict()
        except RadcamError:
            return None

    def _baselines(self, request: TrustRequest, reporter: Reporter) -> dict[str, Any]:
        """The random and edge maps' scores. They depend on the image, the target and the box, not on the method
        or layer: checking another map of the same image reuses them (with automatic checks, every change of
        method would otherwise score 2 × 2 × 17 images again)."""
        from viewer.trust import score_baselines

        engine = self._engine()
        model_input = engine.model.prepare_raw(request.pixels)  # the same read-only array for the same pixels
        target = request.result.target
        kept = self.baselines
        if (kept is not None and kept[0] is model_input and kept[1] == target
                and _same_region(kept[2], request.region)):
            return kept[3]
        scores = {name: found.to_dict() for name, found in score_baselines(
            engine, request.pixels, request.result.target, region=request.region, reporter=reporter).items()}
        self.baselines = (model_input, target, request.region, scores)
        return scores

    def compare(self, request: CompareRequest, reporter: Reporter
                ) -> tuple[ExplainKey, np.ndarray, list[tuple[str, np.ndarray]]]:
        """Every method's overlay of one image for the same target and layer: one grid picture (to save) and the
        (title, overlay) cells it is made of (the viewer lays them out itself, titles in screen pixels)."""
        from viewer.cam import METHODS
        from viewer.export.explanation import method_title
        from viewer.render import OverlayRenderer, compose_grid, fit_within

        engine = self._engine()
        base = fit_within(request.base, PANEL_SIDE)
        panels = []
        for number, method in enumerate(METHODS):
            step = Part(reporter, number / len(METHODS), 1 / len(METHODS))
            try:
                result = engine.explain(request.pixels, method=method, target=request.target, layer=request.layer,
                                        top_n=self.top_n, batch_size=self.batch_size, reporter=step)
            except RadcamError:  # e.g. CAM needs a GAP → Dense head: say so in its cell
                panels.append((f"{method_title(method)}: not applicable", np.full_like(base, 24)))
                step.progress(1.0)
                continue
            overlay = draw(OverlayRenderer(request.base, result.cam), request.style)
            panels.append((method_title(method), fit_within(overlay, PANEL_SIDE)))
        grid: np.ndarray = compose_grid(panels, columns=4, header=request.header)
        return request.key, grid, panels

    def export_batch(self, sources: list[tuple[Path, int]], open_image: Callable[[Path, int], DisplayImage],
                     options: ExportOptions, style: OverlayStyle, scale: float, inverted: bool,
                     settings: ExplainSettings, overwrite: bool, reporter: Reporter) -> list[Path]:
        """Explain and export every image in `sources` with the current settings; progress per image.

        Each image is shown with its own default window (another study's window would not fit it) and the
        window's inversion toggle. An image that cannot be read, explained or written does not stop the others:
        an ExportError at the end says how many failed, why, and how many files were written.
        """
        from viewer.export.caption import ModelCard

        from .exporting import ExportItem, write_item

        engine, loaded = self._engine(), self._loaded()
        written: list[Path] = []
        failed: list[str] = []
        for number, (path, frame) in enumerate(sources):
            if reporter.cancelled():
                break
            step = Part(reporter, number / len(sources), 1 / len(sources))
            try:
                image = open_image(path, frame)
                result = engine.explain(
                    image.render(), method=settings.method, target=settings.target, layer=settings.layer,
                    top_n=self.top_n, batch_size=self.batch_size, reporter=step)
                base = image.render(invert=image.invert != inverted)
                item = ExportItem(image=image, base=base, explanation=result, model=ModelCard.of(loaded),
                                  index=number + 1, numbered=True, expects=loaded.spec.expects)
                written += write_item(item, options, style, scale, overwrite)
            except RadcamError as exc:  # that image's files are all or nothing (write_explanation); go on
                failed.append(str(exc))
            step.progress(1.0)
        if failed:
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise ExportError(f"{len(failed)} of {len(sources)} images could not be exported ({len(written)} file(s) "
                              f"written): {failed[0]}{more}")
        return written


    def prescan(self, entries: Sequence[Entry], on_scores: OnScores, reporter: Reporter, *,
                priority: Callable[[], Iterable[str]] | None = None, use_cache: bool = True,
                batch_size: int = BATCH_SIZE) -> PrescanResult:
        """The loaded model's scores for `entries` (viewer.app.prescan; `on_scores` runs on this thread, so hand
        them to the UI thread; `priority()` must return a snapshot of the ids on screen, it runs here too)."""
        from .prediction_cache import PredictionCache

        loaded = self._loaded()
        if self.model_digest[0] != loaded.path:  # read once per model, not once per chunk of the worklist
            self.model_digest = (loaded.path, file_sha256(loaded.path))
        cache = None
        if use_cache:
            kept = self.prediction_cache  # one per model: its connection and the scores it has read stay open
            if kept is None or kept[0] is not loaded:
                if kept is not None:
                    kept[1].close()
                kept = self.prediction_cache = (loaded, PredictionCache.for_model(
                    self.model_digest[1], loaded.spec.as_dict(), loaded.output_index))
            cache = kept[1]
        return prescan(entries, loaded, on_scores, reporter=reporter, priority=priority, cache=cache,
                       batch_size=batch_size)

    def predict_batch(self, pixels: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """{label: probability} for each display image, in one model call."""
        loaded = self._loaded()
        rows = predict_batch(loaded, [loaded.prepare_fresh(image) for image in pixels])
        return [{label: float(score) for label, score in zip(loaded.labels, row, strict=False)} for row in rows]


def _same_region(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and bool(np.array_equal(a, b))


def file_sha256(path: Path) -> str:
    """The file's SHA-256, or "" for what is not a readable file (the loader then says what is wrong)."""
    try:
        return content_sha256(path)
    except OSError:
        return ""


def draw(renderer: OverlayRenderer, style: OverlayStyle) -> np.ndarray:
    pixels: np.ndarray = renderer.render(threshold=style.threshold, alpha=style.alpha, colormap=style.colormap,
                                         contour=style.contour)
    return pixels
