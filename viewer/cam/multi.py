"""Every finding at once: one map per finding whose probability reaches its decision threshold.

Methods whose map is a function of the target layer's activations and one target's gradients (Grad-CAM and its
gradient-weighted kin) share one compiled pass: one forward pass, the gradients of every finding's logit taken
together (passes.build_multi_gradients), then each finding's map made by the method's own compute() from them.
Any other method falls back to one explain() per finding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.cam.base import QUIET, CamResult, Part, Reporter, Target
from viewer.cam.context import CamContext
from viewer.cam.registry import get_method, resolve_method

if TYPE_CHECKING:
    from viewer.cam.engine import CamEngine

# The methods whose compute(ctx) reads nothing but ctx.gradients(): they can share the batched pass.
SHARED_PASS = ("gradcam", "gradcampp", "xgradcam", "layercam", "hirescam")
DEFAULT_DECISION_THRESHOLD = 0.5  # a label the sidecar gives no threshold (as the worklist and review read it)


@dataclass(frozen=True)
class Finding:
    """One finding above its decision threshold and its map."""

    target: Target
    score: float  # the model's probability for it
    threshold: float  # its decision threshold
    result: CamResult


@dataclass(frozen=True)
class Findings:
    """Every finding of one image, best score first; `shared_pass`: made from one batched pass."""

    findings: tuple[Finding, ...]
    predictions: list[dict[str, Any]]
    method: str
    layer: str
    shared_pass: bool
    timings_ms: dict[str, float]


def decision_threshold(model: Any, label: str) -> float:
    return float(model.spec.thresholds.get(label, DEFAULT_DECISION_THRESHOLD))


def above_threshold(model: Any, probs: np.ndarray) -> list[Target]:
    """The targets whose probability reaches their decision threshold, best score first (a single sigmoid unit:
    its label only; 'not X' is no finding)."""
    chosen = [(float(p), unit) for unit, (label, p) in enumerate(zip(model.labels, np.ravel(probs), strict=False))
              if float(p) >= decision_threshold(model, label)]
    return [Target.at(model, unit) for _, unit in sorted(chosen, key=lambda pair: (-pair[0], pair[1]))]


def explain_findings(engine: CamEngine, display: np.ndarray, method: str = "gradcam", layer: str | None = None,
                     scores: Any = None, reporter: Reporter = QUIET, top_n: int = 32,
                     batch_size: int | None = None) -> Findings:
    """One map per finding above its decision threshold. `scores` (this image's probabilities, if known) lets
    the shared pass differentiate only the findings' logits; without them it differentiates every unit and keeps
    the findings' (still one forward pass). `top_n` and `batch_size` as explain()'s, for the Score-CAM kin."""
    name = resolve_method(method)
    start = time.perf_counter()
    display = np.asarray(display)
    model = engine.model
    if name not in SHARED_PASS:
        return _one_by_one(engine, display, name, layer, scores, reporter, start, top_n, batch_size)
    raw, x = model.model_inputs(display)
    t_pre = time.perf_counter()
    layer_name = engine.target_layer(layer)[0].name
    units = (np.arange(model.n_outputs, dtype=np.int32) if scores is None else
             np.array([t.unit for t in above_threshold(model, np.asarray(scores))], np.int32))
    findings: list[Finding] = []
    if units.size:
        with engine._lock:
            a, g, probs = engine.compiled(("multi_gradients", layer_name))(x, units)
        a, g, probs = np.asarray(a)[0], np.asarray(g), np.asarray(probs)[0]
        model.check_output(probs)
        module = get_method(name)
        chosen = {t.unit: t for t in above_threshold(model, probs)}
        for row, unit in enumerate(units.tolist()):
            target = chosen.get(unit)
            if target is None:
                continue
            ctx = CamContext(engine, layer_name, raw, x, target, reporter=Part(reporter, 0.0, 1.0))
            ctx.preset_gradients(a, g[row], probs)
            result = engine.finish(ctx, np.asarray(module.compute(ctx), np.float32), display, name, start, t_pre)
            findings.append(Finding(target, float(probs[unit]), decision_threshold(model, target.name), result))
        predictions = model.prediction_rows(probs)
    else:
        predictions = model.prediction_rows(np.asarray(scores, np.float32))
    findings.sort(key=lambda f: (-f.score, f.target.unit))
    reporter.progress(1.0)
    total = (time.perf_counter() - start) * 1e3
    return Findings(tuple(findings), predictions, name, layer_name, True,
                    {"preprocess": (t_pre - start) * 1e3, "cam": total - (t_pre - start) * 1e3})


def explain_targets(engine: CamEngine, display: np.ndarray, targets: list[Target], method: str = "gradcam",
                    layer: str | None = None, reporter: Reporter = QUIET, top_n: int = 32,
                    batch_size: int | None = None) -> list[CamResult]:
    """One map per target, whatever its score (class discriminativeness compares every label's map): the shared
    pass for Grad-CAM and its kin, else one explain() per target."""
    name = resolve_method(method)
    start = time.perf_counter()
    display = np.asarray(display)
    if name not in SHARED_PASS or not targets or any(t.sign < 0 for t in targets):  # the pass takes +logits
        return [engine.explain(display, method=name, target=t.index, layer=layer, top_n=top_n, batch_size=batch_size,
                               reporter=Part(reporter, i / len(targets), 1 / len(targets)))
                for i, t in enumerate(targets)]
    raw, x = engine.model.model_inputs(display)
    t_pre = time.perf_counter()
    layer_name = engine.target_layer(layer)[0].name
    units = np.array([t.unit for t in targets], np.int32)
    with engine._lock:
        a, g, probs = engine.compiled(("multi_gradients", layer_name))(x, units)
    a, g, probs = np.asarray(a)[0], np.asarray(g), np.asarray(probs)[0]
    engine.model.check_output(probs)
    module = get_method(name)
    results = []
    for row, target in enumerate(targets):
        ctx = CamContext(engine, layer_name, raw, x, target, reporter=Part(reporter, 0.0, 1.0))
        ctx.preset_gradients(a, g[row], probs)
        results.append(engine.finish(ctx, np.asarray(module.compute(ctx), np.float32), display, name, start, t_pre))
    reporter.progress(1.0)
    return results


def _one_by_one(engine: CamEngine, display: np.ndarray, name: str, layer: str | None, scores: Any,
                reporter: Reporter, start: float, top_n: int, batch_size: int | None) -> Findings:
    """A method without a shared pass: its scores first (one forward pass), then one explain() per finding."""
    model = engine.model
    rows = engine.predict(display) if scores is None else None
    probs = np.ravel(np.asarray([r["score"] for r in rows] if rows is not None else scores, np.float32))
    targets = above_threshold(model, probs)
    findings = []
    for i, target in enumerate(targets):
        part = Part(reporter, i / len(targets), 1 / len(targets))
        # The explanation's own top_n/batch_size: its target's map here must be the one in its panels.
        result = engine.explain(display, method=name, target=target.index, layer=layer, top_n=top_n,
                                batch_size=batch_size, reporter=part)
        findings.append(Finding(target, float(probs[target.unit]), decision_threshold(model, target.name), result))
    used_layer = findings[0].result.layer if findings else (engine.target_layer(layer)[0].name
                                                            if get_method(name).INFO.needs_layer else "input")
    reporter.progress(1.0)
    return Findings(tuple(findings), model.prediction_rows(probs), name, used_layer, False,
                    {"cam": (time.perf_counter() - start) * 1e3})
