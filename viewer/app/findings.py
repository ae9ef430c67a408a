"""All findings: every finding above its decision threshold drawn at once on the original, without Qt.

The maps come from one job on the model thread (viewer.cam.multi: one batched pass for Grad-CAM and its kin);
drawing them (viewer.render.findings) needs only the CAM threshold of the overlay style, so a slider move
redraws on the UI thread. The result carries the key of the explanation it was made beside: it is shown, and
exported, only while that explanation is the current one on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.export.explanation import OverlayStyle

from .jobs import Reporter
from .requests import ExplainKey

if TYPE_CHECKING:
    from viewer.cam.multi import Findings

    from .session import ModelSession


@dataclass(frozen=True, eq=False)
class ShownFindings:
    key: ExplainKey  # of the explanation these findings go with
    findings: Findings


def items(findings: Findings) -> list[tuple[str, float, np.ndarray]]:
    """(label, score, CAM) per finding, best score first: what viewer.render.findings draws."""
    return [(f.target.name, f.score, f.result.cam) for f in findings.findings]


def draw(base: np.ndarray, findings: Findings, style: OverlayStyle) -> np.ndarray:
    from viewer.render.findings import draw_findings

    return draw_findings(base, items(findings), style.threshold)


def job(session: ModelSession, key: ExplainKey, pixels: np.ndarray,
        scores: Sequence[float] | None) -> Callable[[Reporter], ShownFindings]:
    """The model-thread job: every finding's map for the image `pixels` (the model's input rendering) with the
    key's method and layer; `scores`, when the explanation on screen has them, spare differentiating the rest."""

    def run(reporter: Reporter) -> ShownFindings:
        from viewer.cam.multi import explain_findings
        from viewer.errors import ModelError

        if session.engine is None:
            raise ModelError("no model is loaded: open one with File → Open Model…")
        found = explain_findings(session.engine, pixels, key.method, key.layer, scores=scores, reporter=reporter,
                                 top_n=session.top_n, batch_size=session.batch_size)
        return ShownFindings(key, found)

    return run


def on_screen(state: Any) -> ShownFindings | None:
    """The findings to draw now (`state`: the ViewerState, which imports this module): All findings is on and
    they go with the current explanation on screen."""
    shown: ShownFindings | None = state.findings
    explanation = state.showing()
    if not state.all_findings or shown is None or explanation is None or shown.key != explanation.key:
        return None
    return shown


def caption(state: Any) -> str | None:
    """What the All findings overlay on screen is (its export's caption), or None when it is not on screen."""
    from viewer.export.explanation import method_title
    from viewer.render.findings import findings_caption

    shown = on_screen(state)
    if shown is None or state.model is None:
        return None
    found = shown.findings
    return findings_caption(items(found), method_title(found.method), state.model.name, state.style.threshold,
                            {f.target.name: f.threshold for f in found.findings})


def overlay(state: Any) -> np.ndarray | None:
    """The All findings overlay of the image as displayed, or None when the mode is off or its maps are not in."""
    shown = on_screen(state)
    if shown is None or state.base is None:
        return None
    return draw(state.base, shown.findings, state.style)
