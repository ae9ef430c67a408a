"""Do the maps tell the classes apart? Every label's map of one image, compared (no Qt).

    report = explain_classes(engine, display, "gradcam", regions={"nodule": mask, "consolidation": mask})
    report.to_dict()     # report["classes"] in the Trust tab (models with more than one label)

Per-class pointing: label k's map points at its own finding when its maximum lies within the pointing tolerance of
k's region (viewer.trust.pointing.localise); it points at another class's finding when it misses its own but lies
within the tolerance of another label's region. Class sensitivity (Rebuffi et al., CVPR 2020, "There and Back
Again: Revisiting Backpropagation Saliency Methods"): the Pearson correlation between the maps of the highest- and
the lowest-scoring label; near 1 the method draws the same map whatever class it is asked about, lower means the
maps differ by class. Correlations are taken at the model-input grid, so they do not depend on the display's size.

report["classes"] — to_dict(), the keys the Trust tab and `evaluate --demo --json` read:
    {"method": "gradcam",                                 canonical method key
     "layer": "block4_relu",                              the maps' layer ("input" for a method without one)
     "labels": ["nodule", "consolidation"],               the model's labels, in output order
     "scores": {"nodule": 0.93, "consolidation": 0.71},   the model's probability of each label
     "peaks": {"nodule": [x, y], ...},                    each map's maximum in image pixels; null: an empty map
     "correlations": {"nodule|consolidation": 0.12},      Pearson r of every pair of maps, the pair in label order;
                                                          null when either map is empty (constant)
     "distances": {"nodule|consolidation": 87.3},         between the pair's peaks, in image pixels (or null)
     "top": "nodule", "bottom": "consolidation",          the highest- and the lowest-scoring label
     "sensitivity": 0.12,                                 the correlation of top and bottom: class sensitivity,
                                                          lower is better (null when either map is empty)
     "pointing": {"nodule": {"own": true, "other": false},   null for a label no region was given for
                  "consolidation": null}}
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import cv2
import numpy as np

from viewer.cam import QUIET, Reporter, Target
from viewer.errors import CamError

from .pointing import DEFAULT_TOLERANCE, localise


@dataclass(frozen=True)
class ClassReport:
    method: str
    layer: str
    labels: tuple[str, ...]
    scores: dict[str, float]
    peaks: dict[str, tuple[int, int] | None]
    correlations: dict[str, float | None]  # "a|b" → Pearson r
    distances: dict[str, float | None]  # "a|b" → px between the peaks
    top: str
    bottom: str
    sensitivity: float | None
    pointing: dict[str, dict[str, bool] | None]  # label → {"own", "other"}; None without that label's region

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "layer": self.layer, "labels": list(self.labels), "scores": self.scores,
                "peaks": {k: list(v) if v is not None else None for k, v in self.peaks.items()},
                "correlations": self.correlations, "distances": self.distances, "top": self.top,
                "bottom": self.bottom, "sensitivity": self.sensitivity, "pointing": self.pointing}


def pair_key(a: str, b: str) -> str:
    return f"{a}|{b}"


def correlation_matrix(maps: np.ndarray) -> np.ndarray:
    """Pearson r between the rows of (n, P) maps; NaN where a row is constant (a correlation is undefined)."""
    flat = np.asarray(maps, np.float64).reshape(len(maps), -1)
    centred = flat - flat.mean(axis=1, keepdims=True)
    norms = np.sqrt((centred * centred).sum(axis=1))
    scale = np.outer(norms, norms)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (centred @ centred.T) / scale
    r[scale <= 1e-12 * max(float(scale.max()), 1e-300)] = np.nan
    return np.clip(r, -1.0, 1.0)


def class_pointing(maps: dict[str, np.ndarray], regions: dict[str, np.ndarray],
                   tolerance: float = DEFAULT_TOLERANCE) -> dict[str, dict[str, bool] | None]:
    """{label: {"own": its map's maximum within `tolerance` of its region, "other": not own but within it of
    another label's region}} for each label of `maps`; None for a label without a region. A constant map points
    at nothing (localise)."""
    found: dict[str, dict[str, bool] | None] = {}
    for label, saliency in maps.items():
        if label not in regions:
            found[label] = None
            continue
        own = localise(saliency, regions[label], tolerance).hit
        other = not own and any(localise(saliency, region, tolerance).hit
                                for name, region in regions.items() if name != label)
        found[label] = {"own": own, "other": other}
    return found


def compare_classes(method: str, maps: dict[str, np.ndarray], scores: dict[str, float], *, layer: str = "",
                    regions: dict[str, np.ndarray] | None = None, tolerance: float = DEFAULT_TOLERANCE,
                    grid: tuple[int, int] | None = None) -> ClassReport:
    """The report for `maps` ({label: display-sized map in [0, 1]}, two or more, in label order) with the model's
    `scores` per label; `regions` {label: bool mask at the display size} adds pointing; `grid` (h, w) is where the
    correlations are taken (the model input; None: as given)."""
    labels = tuple(maps)
    if len(labels) < 2:
        raise CamError(f"telling classes apart needs the maps of two labels or more, not {len(labels)}")
    stack: list[np.ndarray] = [np.asarray(maps[k], np.float32) for k in labels]
    if grid is not None:
        stack = [cv2.resize(m, (grid[1], grid[0]), interpolation=cv2.INTER_AREA) for m in stack]
    r = correlation_matrix(np.stack(stack))
    peaks: dict[str, tuple[int, int] | None] = {}
    for label in labels:
        saliency = np.asarray(maps[label])
        if saliency.max() > saliency.min():
            y, x = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
            peaks[label] = (int(x), int(y))
        else:
            peaks[label] = None
    correlations: dict[str, float | None] = {}
    distances: dict[str, float | None] = {}
    for (i, a), (j, b) in combinations(enumerate(labels), 2):
        correlations[pair_key(a, b)] = None if np.isnan(r[i, j]) else float(r[i, j])
        pa, pb = peaks[a], peaks[b]
        distances[pair_key(a, b)] = None if pa is None or pb is None else float(np.hypot(pa[0] - pb[0],
                                                                                         pa[1] - pb[1]))
    order = sorted(labels, key=lambda k: (-scores[k], labels.index(k)))
    top, bottom = order[0], order[-1]
    i, j = sorted((labels.index(top), labels.index(bottom)))
    sensitivity = correlations[pair_key(labels[i], labels[j])]
    pointing = class_pointing(maps, regions or {}, tolerance)
    return ClassReport(method, layer, labels, {k: float(scores[k]) for k in labels}, peaks, correlations, distances,
                       top, bottom, sensitivity, pointing)


def label_targets(model) -> list[Target]:
    """One target per label of a model with two or more output units; CamError for a single unit."""
    if model.n_outputs < 2:
        raise CamError(f"telling classes apart needs a model with two labels or more; this one has "
                       f"{model.n_outputs} output unit ({', '.join(model.labels)})")
    return [Target.at(model, unit) for unit in range(model.n_outputs)]


def explain_classes(engine, display: np.ndarray, method: str = "gradcam", *, layer: str | None = None,
                    regions: dict[str, np.ndarray] | None = None, tolerance: float = DEFAULT_TOLERANCE,
                    top_n: int = 32, batch_size: int | None = None, reporter: Reporter = QUIET) -> ClassReport:
    """Every label's map of `display` (Grad-CAM and its kin: one batched pass, viewer.cam.multi; any other method:
    one explain() per label), compared by compare_classes(). CamError when the method cannot run or the model has
    a single output unit."""
    from viewer.cam.multi import explain_targets

    targets = label_targets(engine.model)
    results = explain_targets(engine, display, targets, method, layer, reporter, top_n, batch_size)
    probs = np.array([row["score"] for row in results[0].predictions], np.float64)
    names = [t.name for t in targets]
    return compare_classes(results[0].method, {name: r.cam for name, r in zip(names, results, strict=True)},
                           {t.name: float(t.probability(probs)) for t in targets}, layer=results[0].layer,
                           regions=regions,
                           tolerance=tolerance, grid=engine.model.input_size)
