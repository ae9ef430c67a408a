"""explain's --all-findings in the batch: every finding above its decision threshold as a labelled contour on the
original (STEM_findings.png beside the target's panels), made on the model's turn and written with the set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .batch_spec import BatchSpec


@dataclass
class FindingsOutput:
    path: Path
    pixels: np.ndarray
    rows: list[dict[str, Any]]  # per finding: name, index, score, decision threshold, empty map
    shared_pass: bool
    overwrite: bool
    items: list[tuple[str, float, np.ndarray]] | None = None  # (label, score, CAM): the presentation state's findings

    def write(self, folder: Path) -> Path:
        """Into `folder` (the set's staging folder), under its file name."""
        from viewer.export.images import save_image

        return save_image(Path(folder) / self.path.name, self.pixels)


def findings_output(engine: Any, spec: BatchSpec, base: np.ndarray, result: Any, stem: str,
                    overwrite: bool) -> FindingsOutput:
    """The findings image of one explained image, made but not written."""
    from viewer.cam.multi import explain_findings
    from viewer.export.caption import ModelCard, warning
    from viewer.export.explanation import method_title
    from viewer.render import compose_panels
    from viewer.render.findings import draw_findings, findings_caption

    threshold = spec.style.threshold
    scores = [row["score"] for row in result.predictions]
    found = explain_findings(engine, base, result.method, spec.layer, scores=scores, top_n=spec.top_n,
                             batch_size=spec.batch_size)
    items = [(f.target.name, f.score, f.result.cam) for f in found.findings]
    card = ModelCard.of(engine.model)
    text = findings_caption(items, method_title(found.method), card.name, threshold,
                            {f.target.name: f.threshold for f in found.findings})
    # A map never leaves without saying what it is (as write_explanation's panels): caption and NOT FOR DIAGNOSIS.
    pixels = compose_panels([draw_findings(base, items, threshold)], caption=text, warning=warning(card))
    rows = [{**f.target.as_dict(), "score": f.score, "decision_threshold": f.threshold, "empty_map": f.result.empty}
            for f in found.findings]
    return FindingsOutput(Path(spec.out) / f"{stem}_findings.png", pixels, rows, found.shared_pass, overwrite, items)
