"""The demo's class report: over fresh two-lesion phantoms (viewer.demo.cases.two_lesion_cases), how often each
class's map points at its own lesion, how often at the other lesion instead, and the mean class sensitivity —
per method, as `radcam-cli evaluate --demo` prints after the faithfulness table."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from viewer.cam import QUIET, Muted, Part, Reporter
from viewer.demo.cases import TOLERANCE, two_lesion_cases
from viewer.errors import CamError

from .classes import ClassReport, explain_classes


@dataclass(frozen=True)
class ClassSummary:
    """One method's class figures over n two-lesion phantoms."""

    method: str
    n: int
    pointing: dict[str, float]  # label → rate at which its map points at its own lesion
    other: dict[str, float]  # label → rate at which its map points at the other lesion instead
    sensitivity: float | None  # mean Pearson r of the top- and bottom-scoring labels' maps (lower is better)
    distance: float | None  # mean distance between the labels' peaks, display pixels
    tolerance: float
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Tally:
    reports: list[ClassReport] = field(default_factory=list)
    seconds: float = 0.0


def demo_classes(engine, methods: list[str], count: int = 100, *, tolerance: float | None = None,
                 layer: str | None = None, reporter: Reporter = QUIET) -> tuple[dict[str, ClassSummary],
                                                                                dict[str, str]]:
    """({method: ClassSummary}, {method: why it could not be applied}) over `count` two-lesion phantoms; the
    pointing tolerance defaults to the demo's 4 px at 256 px, `layer` None is the model's default CAM layer."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    inner = Muted(reporter)
    tallies = {method: _Tally() for method in methods}
    failed: dict[str, str] = {}
    for i, case in enumerate(two_lesion_cases(count)):
        for method in methods:
            if method in failed:
                continue
            start = time.perf_counter()
            try:
                report = explain_classes(engine, case.display, method, layer=layer, regions=case.masks,
                                         tolerance=tolerance, reporter=Part(inner, 0.0, 1.0))
            except CamError as exc:
                failed[method] = str(exc)
                continue
            tallies[method].reports.append(report)
            tallies[method].seconds += time.perf_counter() - start
        reporter.progress((i + 1) / count)
    return {method: summarise(method, tally.reports, tolerance, tally.seconds)
            for method, tally in tallies.items() if method not in failed}, failed


def summarise(method: str, reports: list[ClassReport], tolerance: float, seconds: float = 0.0) -> ClassSummary:
    """Rates and means of one method's reports (each with a region for every label)."""
    labels = reports[0].labels if reports else ()

    def rate(label: str, key: str) -> float:
        return float(np.mean([bool((r.pointing[label] or {}).get(key)) for r in reports]))

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if known else None

    distances = [d for r in reports for d in r.distances.values()]
    return ClassSummary(method, len(reports), {k: rate(k, "own") for k in labels},
                        {k: rate(k, "other") for k in labels}, mean([r.sensitivity for r in reports]),
                        mean(distances), float(tolerance), seconds)
