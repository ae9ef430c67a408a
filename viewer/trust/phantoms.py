"""The demo report: every trust measure over fresh one-lesion phantoms (viewer.demo.cases), summarised per
method and per baseline — `radcam-cli evaluate --demo`. The target is the lesion's kind; the region is its mask.
Each method's verdict (viewer.trust.verdict) is judged from its means against the baselines' means."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from viewer.cam import QUIET, Muted, Reporter, Target
from viewer.demo.cases import TOLERANCE, lesion_cases
from viewer.errors import CamError

from .assess import MapScores, assess, score_baselines
from .baselines import BASELINES
from .curves import DEFAULT_STEPS
from .pointing import Localisation
from .randomisation import THRESHOLD, RandomisedModel
from .verdict import VERDICTS, Evidence, judge


@dataclass(frozen=True)
class Summary:
    """One method's (or baseline's) measures over n phantoms: rates and means."""

    name: str
    baseline: bool
    n: int
    pointing: float  # hit rate
    energy: float  # mean fraction of the map inside the lesion
    deletion_auc: float
    insertion_auc: float
    average_drop: float
    increase: float  # rate
    spearman: float | None = None  # mean |Spearman| after randomisation (methods only)
    ssim: float | None = None
    passed: float | None = None  # fraction of phantoms whose randomisation verdict is "pass"
    sanity: str | None = None  # "pass" when the mean |Spearman| is below the threshold
    morf_mean: float | None = None  # ROAD means (None when no phantom had ROAD)
    lerf_mean: float | None = None
    combined: float | None = None
    verdict: str | None = None  # viewer.trust.verdict's, from these means (a baseline: against the others)
    verdict_reasons: tuple[str, ...] = ()
    verdicts: dict[str, int] | None = None  # how many phantoms got each verdict, judged one phantom at a time
    seconds: float = 0.0  # computing the maps and their measures

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Tally:
    scores: list[MapScores] = field(default_factory=list)
    checks: list = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)  # per phantom
    seconds: float = 0.0


def demo_report(engine, methods: list[str], count: int = 100, *, steps: int = DEFAULT_STEPS,
                tolerance: float | None = None, layer: str | None = None, randomised: RandomisedModel | None = None,
                reporter: Reporter = QUIET) -> tuple[list[Summary], dict[str, str]]:
    """(summaries of `methods` then of the baselines, {method: why it could not be applied}). The pointing
    tolerance defaults to the demo's 4 px at 256 px; `layer` None is each model's default CAM layer."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    inner = Muted(reporter)  # the bar counts phantoms, not the steps of each
    tallies = {name: _Tally() for name in (*methods, *BASELINES)}
    failed: dict[str, str] = {}
    for i, case in enumerate(lesion_cases(count)):
        target = Target.resolve(engine.model, case.kind)
        start = time.perf_counter()
        baselines = score_baselines(engine, case.display, target, region=case.mask, tolerance=tolerance, steps=steps,
                                    reporter=inner)
        seconds = (time.perf_counter() - start) / len(baselines)
        for name, scores in baselines.items():
            tallies[name].scores.append(scores)
            tallies[name].seconds += seconds
        for method in methods:
            if method in failed:
                continue
            start = time.perf_counter()
            try:
                result = engine.explain(case.display, method, target=case.kind, layer=layer, reporter=inner)
            except CamError as exc:
                failed[method] = str(exc)
                continue
            found = assess(engine, case.display, result, randomised=randomised, region=case.mask,
                                       tolerance=tolerance, steps=steps, reporter=inner)
            tallies[method].scores.append(found.scores)
            if found.randomisation is not None:
                tallies[method].checks.append(found.randomisation)
            tallies[method].verdicts.append(judge(_evidence(found.scores), {
                name: _evidence(scores) for name, scores in baselines.items()},
                found.randomisation.verdict if found.randomisation else None).verdict)
            tallies[method].seconds += time.perf_counter() - start
        reporter.progress((i + 1) / count)
    summaries = [_summary(name, tally, name in BASELINES) for name, tally in tallies.items()
                 if name not in failed]
    return _judged(summaries), failed


def _evidence(scores: MapScores) -> Evidence:
    return Evidence(scores.curves.deletion_auc, scores.road.combined if scores.road else None)


def _judged(summaries: list[Summary]) -> list[Summary]:
    """Each method's summary with its verdict, from its means against the baselines' means."""
    def evidence(s: Summary) -> Evidence:
        return Evidence(s.deletion_auc, s.combined)

    baselines = {s.name: evidence(s) for s in summaries if s.baseline}
    found = []
    for s in summaries:
        if not s.baseline:
            verdict = judge(evidence(s), baselines, s.sanity)
            s = replace(s, verdict=verdict.verdict, verdict_reasons=verdict.reasons)
        else:  # every --json row carries a verdict: a baseline against the others, never faithful (no sanity check)
            others = {name: e for name, e in baselines.items() if name != s.name}
            verdict = judge(evidence(s), others, None)
            s = replace(s, verdict=verdict.verdict, verdict_reasons=(
                f"A baseline map, judged against the {', '.join(others) or 'no other'} map by the same rules; it has "
                "no sanity check, so it is never faithful.", *verdict.reasons))
        found.append(s)
    return found


def _summary(name: str, tally: _Tally, baseline: bool) -> Summary:
    scores = tally.scores

    def mean(values: Iterable[float]) -> float:
        return float(np.mean(list(values)))

    def located(s: MapScores) -> Localisation:
        assert s.localisation is not None  # every phantom has its lesion's box
        return s.localisation

    found: dict[str, Any] = dict(
        name=name, baseline=baseline, n=len(scores), pointing=mean(located(s).hit for s in scores),
        energy=mean(located(s).energy for s in scores), deletion_auc=mean(s.curves.deletion_auc for s in scores),
        insertion_auc=mean(s.curves.insertion_auc for s in scores),
        average_drop=mean(s.confidence.drop for s in scores), increase=mean(s.confidence.increase for s in scores),
        seconds=tally.seconds)
    if tally.verdicts:
        found.update(verdicts={v: tally.verdicts.count(v) for v in VERDICTS if v in tally.verdicts})
    roads = [s.road for s in scores if s.road is not None]
    if roads:
        found.update(morf_mean=mean(r.morf_mean for r in roads), lerf_mean=mean(r.lerf_mean for r in roads),
                     combined=mean(r.combined for r in roads))
    checks = [c for c in tally.checks if c.verdict != "n/a"]
    if checks:
        rho = mean(abs(c.spearman) for c in checks)
        found.update(spearman=rho, ssim=mean(c.ssim for c in checks),
                     passed=mean(c.verdict == "pass" for c in checks), sanity="pass" if rho < THRESHOLD else "fail")
    return Summary(**found)
