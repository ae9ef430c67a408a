"""The batch pipeline's values: what every image gets (BatchSpec), one image's work (ImageTask) and what came of it
(ImageOutcome), and the files a complete set holds (for --resume)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viewer.export.explanation import OverlayStyle, planned_files

OUTPUT_KINDS = ("original", "heatmap", "overlay", "panels", "cam", "json", "sc", "gsps", "pmap")
DEFAULT_OUTPUTS = ("original", "heatmap", "overlay", "panels", "cam", "json")
PANEL_KINDS = {"original": "original", "heatmap": "heatmap", "overlay": "overlay", "panels": "side_by_side"}
DEFAULT_BATCH = 16  # images per model call: enough to fill a batched pass, small enough to bound memory


@dataclass(frozen=True)
class BatchSpec:
    """What every image of a batch gets: the explanation asked for and the files written for it."""

    method: str
    target: Any
    layer: str | None
    top_n: int
    frame: int
    style: OverlayStyle
    outputs: frozenset[str]
    all_findings: bool
    anonymize: bool
    overwrite: bool
    resume: bool
    out: Path
    png_compression: int = 1  # fast: PNG encoding dominates a large image's explain
    strict_domain: bool = False  # an image outside the model's domain is an error for it, not a warning
    batch_size: int | None = None  # Score-CAM's masked images per pass (explain's --batch-size)
    # A chunk retried after its Ray actor was lost: files newer than this (the run's start) are the lost actor's.
    retry_since: float | None = None

    @property
    def panels(self) -> tuple[str, ...]:
        return tuple(PANEL_KINDS[kind] for kind in PANEL_KINDS if kind in self.outputs)

    @property
    def dicom_objects(self) -> list[str]:
        return [kind for kind in ("gsps", "pmap") if kind in self.outputs]


@dataclass(frozen=True)
class ImageTask:
    index: int  # position in the input: outcomes are said in this order
    path: Path
    stem: str  # the output files' STEM
    label: str  # how the image is named in what is printed (its pseudonym under --anonymize)


@dataclass
class ImageOutcome:
    index: int
    label: str
    line: dict[str, Any] | None  # the JSON line `explain` prints for it (None when it failed or was skipped)
    written: list[Path]
    error: str | None  # its one-line error (not yet cleaned of source paths: the caller knows the names)
    internal: bool  # the error is a bug met on this image, not a refusal
    skipped: bool  # --resume: its complete output set existed
    warnings: list[str] = field(default_factory=list)  # lines for stderr before its JSON line (out of domain)
    trace: str = ""  # an internal error's traceback, for --debug
    staged: Any = None  # run_local: the set written but not yet moved in (viewer.app.batch_chunk.Staged)


def parse_outputs(text: str) -> frozenset[str]:
    """--outputs original,cam,json → the set; an unknown kind is a ValueError naming the known ones."""
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [kind for kind in kinds if kind not in OUTPUT_KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown output {unknown[0]!r}" if unknown else "no output named")
    return frozenset(kinds)


def planned_outputs(spec: BatchSpec, stem: str) -> list[Path]:
    """Every file a complete set of `stem` holds: what --resume looks for."""
    files = planned_files(spec.out, stem, panels=spec.panels, dicom_panels=("overlay",) if "sc" in spec.outputs
                          else (), dicom_objects=spec.dicom_objects, cam_array="cam" in spec.outputs,
                          sidecar="json" in spec.outputs)
    if spec.all_findings:
        files.append(Path(spec.out) / f"{stem}_findings.png")
    return files
