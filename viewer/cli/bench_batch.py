"""The explain pipeline as the benchmark runs it (viewer.bench.batch_explain cannot import viewer.app): what
`radcam-cli explain FOLDER --outputs cam,json --anonymize --overwrite` does once the model is loaded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def batch_explainer(loaded: Any, batch: int) -> Callable[[list[Path], Path], int]:
    """explain(paths, out) -> how many images got their complete set: Grad-CAM, the command's defaults, one
    CamEngine for every run (its traced passes kept, as in one long command)."""
    from viewer.app.batch import BatchSpec, ImageTask, run_local
    from viewer.cam import CamEngine
    from viewer.export import OverlayStyle

    engine = CamEngine(loaded)

    def explain(paths: list[Path], out: Path) -> int:
        spec = BatchSpec(method="gradcam", target=None, layer=None, top_n=32, frame=0, style=OverlayStyle(),
                         outputs=frozenset({"cam", "json"}), all_findings=False, anonymize=True, overwrite=True,
                         resume=False, out=out)
        tasks = [ImageTask(i, path, f"radcam_{i + 1:03d}", f"radcam_{i + 1:03d}") for i, path in enumerate(paths)]
        return sum(outcome.error is None and not outcome.skipped
                   for outcome in run_local(engine, spec, tasks, batch=batch, workers=None))

    return explain
