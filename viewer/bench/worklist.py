"""The worklist figure: 10,000 rows opened in the viewer's Worklist tab, in a fresh offscreen process.

The process runs `python -m viewer.ui.worklist_timing` (the viewer's own panel, observed; see that module) with
QT_QPA_PLATFORM=offscreen; this module has no Qt.
"""

from __future__ import annotations

import os
import statistics

from viewer.errors import RadcamError

from .measure import run_child

ROWS = 10_000
TIMEOUT_S = 300


def worklist_figures(repeat: int) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """worklist_open_10000_ms: the median of `repeat` samples after one warm-up, in one process."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    report = run_child(["-m", "viewer.ui.worklist_timing", str(ROWS), str(repeat)], "the worklist probe", TIMEOUT_S,
                       env)
    samples = report.get("samples_ms") or []
    if not samples or report.get("rows") != ROWS:
        raise RadcamError(f"the worklist probe listed {report.get('rows')} of {ROWS} rows")
    name = "worklist_open_10000_ms"
    notes = {name: f"{ROWS:,} entries built, the Worklist tab's table model, filter and view made, sorted by score "
                   "once (triage) and painted; offscreen"}
    return {name: statistics.median(samples)}, {name: len(samples)}, notes
