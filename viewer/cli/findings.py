"""`radcam-cli explain --all-findings`: every finding above its decision threshold as a labelled contour on the
original, written as STEM_findings.png beside the one target's panels (as the viewer's All findings, G)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def add_option(group: Any) -> None:
    group.add_argument("--all-findings", action="store_true",
                       help="also write STEM_findings.png: every finding above its decision threshold (the model "
                            "sidecar's thresholds, else 0.5) outlined at the CAM threshold in its own colour, with "
                            "its label and score (one batched pass for Grad-CAM and its kin)")


@dataclass
class FindingsOutput:
    path: Path
    pixels: np.ndarray
    rows: list[dict[str, Any]]  # per finding: name, index, score, decision threshold, empty map
    shared_pass: bool
    overwrite: bool
    items: list[tuple[str, float, np.ndarray]] | None = None  # (label, score, CAM): the presentation state's findings

    def write(self) -> Path:
        from viewer.export.images import save_image

        return save_image(self.path, self.pixels, overwrite=self.overwrite)


def findings_output(args: argparse.Namespace, engine: Any, base: np.ndarray, result: Any, stem: str,
                    threshold: float) -> FindingsOutput | None:
    """The findings image of one explained image, made but not written (None without --all-findings). An
    existing file is refused here, before the explanation's own files are written."""
    if not getattr(args, "all_findings", False):
        return None
    from viewer.cam.multi import explain_findings
    from viewer.export.caption import ModelCard, warning
    from viewer.export.explanation import method_title, refuse_existing
    from viewer.render import compose_panels
    from viewer.render.findings import draw_findings, findings_caption

    path = Path(args.out) / f"{stem}_findings.png"
    refuse_existing([path], args.overwrite)
    scores = [row["score"] for row in result.predictions]
    found = explain_findings(engine, base, result.method, args.layer, scores=scores, top_n=args.top_n,
                             batch_size=args.batch_size)
    items = [(f.target.name, f.score, f.result.cam) for f in found.findings]
    card = ModelCard.of(engine.model)
    text = findings_caption(items, method_title(found.method), card.name, threshold,
                            {f.target.name: f.threshold for f in found.findings})
    # A map never leaves without saying what it is (as write_explanation's panels): caption and NOT FOR DIAGNOSIS.
    pixels = compose_panels([draw_findings(base, items, threshold)], caption=text, warning=warning(card))
    rows = [{**f.target.as_dict(), "score": f.score, "decision_threshold": f.threshold, "empty_map": f.result.empty}
            for f in found.findings]
    return FindingsOutput(path, pixels, rows, found.shared_pass, args.overwrite, items)
