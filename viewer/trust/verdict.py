"""One verdict per map, from every measure together, by rules fixed before any result was seen (README, "Can I
trust this map?").

Two fills remove what the map ranks first: blur (deletion AUC, lower is better) and ROAD's noisy linear imputation
(combined score, higher is better). Under one fill the map BEATS a baseline map when it is better by more than
MARGIN, is BEATEN when the baseline is better by more than MARGIN, else TIES. Per fill the outcome is "better"
(beats every baseline), "worse" (some baseline beats it) or "unclear".

1. sanity check "fail" → model-independent, whatever the curves say.
2. "better" under both fills and sanity "pass" → faithful.
3. "worse" under both fills, or "worse" under one and "unclear" under the other → not-faithful.
4. anything else → inconclusive; the reasons say which measures disagree, or what did not run.

A fill that was not measured (no ROAD in an older report, a missing baseline value) is "unclear": such a map is at
most inconclusive; but a baseline that was measured and beats the map makes that fill "worse" all the same. So a map
that a random map beats under either fill is never faithful.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

VERDICTS = ("faithful", "not-faithful", "inconclusive", "model-independent")
MARGIN = 0.02
# A difference counts as "more than MARGIN" only past this slack: 0.30 - 0.28 is 0.020000000000000018 in floats,
# and a difference of exactly MARGIN in the figures a reader sees must tie.
_SLACK = 1e-9

BETTER, WORSE, UNCLEAR = "better", "worse", "unclear"
UNMEASURED = "not measured"  # counts as UNCLEAR in the rules; kept apart only to say so in the reasons


@dataclass(frozen=True)
class Evidence:
    """One map's figures under the two fills; None (or NaN) when that fill was not measured."""

    deletion_auc: float  # blur deletion AUC, lower is better
    road_combined: float | None  # ROAD combined score, higher is better


@dataclass(frozen=True)
class Verdict:
    verdict: str  # one of VERDICTS
    reasons: tuple[str, ...]  # short sentences with the numbers, the deciding one first

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "verdict_reasons": list(self.reasons)}


@dataclass(frozen=True)
class _Fill:
    name: str  # as readers see it
    field: str  # Evidence attribute
    higher_is_better: bool

    @property
    def title(self) -> str:
        """The name at the start of a sentence."""
        return self.name[:1].upper() + self.name[1:]


FILLS = (_Fill("blur deletion AUC", "deletion_auc", False), _Fill("ROAD combined", "road_combined", True))


def _value(evidence: Evidence, fill: _Fill) -> float | None:
    value = getattr(evidence, fill.field)
    return None if value is None or not math.isfinite(value) else float(value)


def _names(names: list[str]) -> str:
    return " and ".join(f"the {name} map" for name in names) if len(names) < 3 else \
        "the " + ", ".join(names[:-1]) + f" and {names[-1]} maps"


def _compare(fill: _Fill, method: Evidence, baselines: dict[str, Evidence]) -> tuple[str, str]:
    """(outcome, one sentence with the numbers) for one fill."""
    value = _value(method, fill)
    others = {name: _value(e, fill) for name, e in baselines.items()}
    if value is None:
        return UNMEASURED, f"{fill.title}: not measured for this map."
    missing = [name for name, v in others.items() if v is None]
    figures = f"{value:.3f} vs " + ", ".join(f"{name} {v:.3f}" for name, v in others.items() if v is not None)
    sign = 1.0 if fill.higher_is_better else -1.0
    gain = {name: sign * (value - v) for name, v in others.items() if v is not None}  # > 0: the map is better
    beaten = [name for name, g in gain.items() if g < -(MARGIN + _SLACK)]
    tied = [name for name, g in gain.items() if abs(g) <= MARGIN + _SLACK]
    every = "both baselines" if len(gain) == 2 else ("every baseline" if len(gain) > 2 else "the baseline")
    if beaten:  # "some baseline beats it" is known even when another baseline was not measured
        verb = "beats" if len(beaten) == 1 else "beat"
        unmeasured = f"; not measured for {_names(missing)}" if missing else ""
        return WORSE, f"{fill.title}: {_names(beaten)} {verb} it ({figures}{unmeasured})."
    if not others or missing:
        what = f"for {_names(missing)}" if missing else "for any baseline"
        return UNMEASURED, f"{fill.title}: not measured {what} ({value:.3f} for this map)."
    if tied:
        return UNCLEAR, f"{fill.title}: it is within {MARGIN:g} of {_names(tied)} ({figures})."
    return BETTER, f"{fill.title}: it beats {every} by more than {MARGIN:g} ({figures})."


_SANITY = {"pass": "Sanity check: passed (the map changes when the model's top layers are re-initialised).",
           "fail": "Sanity check: failed (the map barely changes when the model's top layers are re-initialised: "
                   "it shows the image more than what the model learned).",
           "n/a": "Sanity check: not applicable (the map is empty)."}


def judge(method: Evidence, baselines: dict[str, Evidence], sanity: str | None) -> Verdict:
    """The verdict on one map from its evidence, the baseline maps' evidence ({name: Evidence}, e.g. random, edge)
    and the randomisation verdict ("pass", "fail", "n/a" or None when the check did not run)."""
    (blur, blur_says), (road, road_says) = (_compare(fill, method, baselines) for fill in FILLS)
    details = (blur_says, road_says, _SANITY.get(sanity or "", "Sanity check: did not run."))
    if sanity == "fail":
        return Verdict("model-independent", ("The sanity check fails, whatever the curves say.", *details))
    if blur == road == BETTER and sanity == "pass":
        return Verdict("faithful", ("Removal beats both baselines under both fills and the sanity check passes.",
                                    *details))
    outcomes = {FILLS[0].name: blur, FILLS[1].name: road}
    if WORSE in outcomes.values() and BETTER not in outcomes.values():  # worse + worse, unclear or unmeasured
        beaten = [name for name, outcome in outcomes.items() if outcome == WORSE]
        head = ("A baseline beats the map under both fills." if len(beaten) == 2 else
                f"A baseline beats the map under {beaten[0]}, and the other fill does not show it better.")
        return Verdict("not-faithful", (head, *details))
    if {blur, road} == {BETTER, WORSE}:
        better, worse = (FILLS[0].name, FILLS[1].name) if blur == BETTER else (FILLS[1].name, FILLS[0].name)
        head = f"The measures disagree: under {better} the map beats every baseline, under {worse} a baseline " \
               "beats it."
    else:
        parts = [f"{name} was not measured" if outcome == UNMEASURED else
                 f"under {name} it is within {MARGIN:g} of a baseline"
                 for name, outcome in outcomes.items() if outcome != BETTER]
        if sanity != "pass":
            parts.append("the sanity check " + ("did not run" if sanity is None else "could not be applied"))
        head = "Not enough to call it faithful: " + "; ".join(parts) + "."
    return Verdict("inconclusive", (head, *details))


def _figure(part: Any, key: str) -> float | None:
    """part[key] as a float; None when the part or the figure is missing or not a number (an error row, a damaged
    file): a verdict must never crash the trust job or evaluate."""
    value = part.get(key) if isinstance(part, dict) else None
    try:
        return None if value is None or isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None


def _evidence(report: Any) -> Evidence:
    """Evidence from one to_dict() map report (a method's or a baseline's); missing figures are not measured."""
    if not isinstance(report, dict):
        report = {}
    deletion = _figure(report.get("curves"), "deletion_auc")
    return Evidence(float("nan") if deletion is None else deletion, _figure(report.get("road"), "combined"))


def judge_report(report: dict[str, Any]) -> dict:
    """{"verdict", "verdict_reasons"} for a to_dict() report with its "baselines" ({name: report}) and
    "randomisation" (its "verdict" is the sanity check). A report without "road" (an older map, a failure) has
    that fill not measured, so it is at most inconclusive."""
    found = report.get("baselines")
    baselines = {name: _evidence(scores) for name, scores in (found.items() if isinstance(found, dict) else ())}
    check = report.get("randomisation")
    sanity = check.get("verdict") if isinstance(check, dict) else None
    sanity = sanity if sanity in _SANITY else None  # anything else: the check did not run
    return judge(_evidence(report), baselines, sanity).to_dict()


def no_map(why: str) -> dict:
    """{"verdict", "verdict_reasons"} for a row whose map could not be made: nothing to judge, so inconclusive (every
    evaluate row carries a verdict)."""
    return Verdict("inconclusive", (f"No map to judge: {why}",)).to_dict()
