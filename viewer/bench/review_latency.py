"""The review figure: from the J keypress (next unreviewed image) to that image's map on screen, in a fresh
viewer process (offscreen) on phantom images with the demo model, with the next image prefetched and without.

The process runs `python -m viewer.ui.review_timing` (the application's own create/run, observed; see that module)
with QT_QPA_PLATFORM=offscreen and a settings file of its own, so a user's settings are neither read nor changed.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from viewer.errors import RadcamError

from .measure import run_child

TIMEOUT_S = 300


def next_image_figures(folder: Path, repeat: int) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """next_image_map_ms (prefetched, the viewer's behaviour) and next_image_map_cold_ms (decoded and explained
    when J asks): the median over `repeat` + 1 keypresses each, in one process each."""
    figures: dict[str, float] = {}
    runs: dict[str, int] = {}
    count = max(3, repeat + 2)  # the first image is opened, each later one is a keypress
    for name, extra in (("next_image_map_ms", []), ("next_image_map_cold_ms", ["--no-prefetch"])):
        images = folder / name
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RADCAM_SETTINGS": str(folder / f"{name}.ini")}
        report = run_child(["-m", "viewer.ui.review_timing", str(images), str(count), *extra],
                           f"the next-image probe ({name})", TIMEOUT_S, env)
        samples = report.get("samples_ms") or []
        if not samples:
            raise RadcamError(f"the next-image probe ({name}) timed no keypress")
        if not extra and report.get("prefetched", 0) < len(samples):
            raise RadcamError(f"the next-image probe showed {len(samples) - report.get('prefetched', 0)} image(s) "
                              "that were not prefetched")
        figures[name] = statistics.median(samples)
        runs[name] = len(samples)
    figures["next_image_map_over_cold"] = figures["next_image_map_ms"] / figures["next_image_map_cold_ms"]
    notes = {
        "next_image_map_ms": "J (next unreviewed image) to its map on screen, the next image decoded and explained "
                             "ahead (the viewer's behaviour); demo model, 1024x1024 phantoms, offscreen",
        "next_image_map_cold_ms": "the same keypress with prefetching off: decoded and explained when J asks",
    }
    return figures, runs, notes
