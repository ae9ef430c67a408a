"""`radcam-cli explain --all-findings`: the option; the findings image itself is made in the batch
(viewer.app.batch_findings), every finding above its decision threshold as a labelled contour on the original,
written as STEM_findings.png beside the one target's panels (as the viewer's All findings, G)."""

from __future__ import annotations

from typing import Any


def add_option(group: Any) -> None:
    group.add_argument("--all-findings", action="store_true",
                       help="also write STEM_findings.png: every finding above its decision threshold (the model "
                            "sidecar's thresholds, else 0.5) outlined at the CAM threshold in its own colour, with "
                            "its label and score (one batched pass for Grad-CAM and its kin)")
