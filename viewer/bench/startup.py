"""Start-up figures: a fresh `radcam` process, offscreen, timed from the moment this process starts it.

The process runs `python -m viewer.ui.timing` (the application's own create/run, observed; see that module) with
QT_QPA_PLATFORM=offscreen and a settings file of its own, so a user's settings are neither read nor changed.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from viewer.errors import RadcamError

from .measure import run_child

TIMEOUT_S = 300


def _launch(args: list[str], folder: Path) -> tuple[float, dict]:
    """(ms from process start to the probe's event, the probe's report)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RADCAM_SETTINGS": str(folder / "settings.ini")}
    launched = time.time()
    report = run_child(["-m", "viewer.ui.timing", *args], f"the start-up probe '{args[0]}'", TIMEOUT_S, env)
    if "shown_at" not in report:
        raise RadcamError(f"the start-up probe '{args[0]}' exited without its event")
    return (report["shown_at"] - launched) * 1e3, report


def startup_figures(folder: Path, repeat: int) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """first_window_ms and first_heatmap_ms: one untimed start (it fills the file cache), then the median of
    `repeat` starts."""
    figures: dict[str, float] = {}
    runs: dict[str, int] = {}
    shot = folder / "first_heatmap.png"
    probes = {"first_window_ms": ["window"], "first_heatmap_ms": ["heatmap", "--screenshot", str(shot)]}
    for name, args in probes.items():
        _launch(args, folder)
        samples = []
        for _ in range(repeat):
            ms, report = _launch(args, folder)
            if name == "first_window_ms" and report.get("tensorflow_imported"):
                raise RadcamError("TensorFlow was imported before the main window was shown")
            samples.append(ms)
        figures[name] = statistics.median(samples)
        runs[name] = len(samples)
    if not shot.is_file():
        raise RadcamError("the --screenshot start-up run wrote no screenshot")
    figures["first_heatmap_over_first_window"] = figures["first_heatmap_ms"] / figures["first_window_ms"]
    notes = {
        "first_window_ms": "process start to the main window's first paint (offscreen), TensorFlow not yet imported",
        "first_heatmap_ms": "process start to the first explanation on screen: `radcam --screenshot` on the demo "
                            "(demo study, demo model, Grad-CAM)",
    }
    return figures, runs, notes
