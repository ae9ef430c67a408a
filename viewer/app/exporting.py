"""File → Export without Qt: the options, which files an export will write, and the jobs that write them.

A single export writes the explanation on screen (on the IO thread); a batch explains every open image first
(on the model thread, ModelSession.export_batch). Existing files are replaced only after the caller's
`confirm(paths)`; the plan knows them before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.export.caption import ModelCard
from viewer.export.explanation import FORMATS, PANELS, OverlayStyle
from viewer.io import DisplayImage

from .findings import caption as all_findings_caption, overlay as all_findings_overlay
from .jobs import Reporter

if TYPE_CHECKING:
    from viewer.cam import CamResult

    from .session import ModelSession
    from .state import ViewerState

Getter = Callable[[str, Any], Any]  # settings.get(key, default)
# DICOM objects beside the panels: the overlay as a Secondary Capture, the findings as a presentation state drawn by
# PACS viewers over the original, the CAM's values as a Parametric Map (the last two need a DICOM original).
DICOM_KINDS = ("sc", "gsps", "pmap")
Source = tuple[Path, int]  # a file and its frame


@dataclass
class ExportOptions:
    panels: list[str] = field(default_factory=lambda: ["side_by_side"])
    format: str = "png"
    full_resolution: bool = True  # False: as displayed (the current zoom)
    caption: bool = True
    anonymize: bool = False
    sidecar: bool = True  # a JSON record of the explanation beside the images
    folder: Path = field(default_factory=Path.home)
    batch: bool = False  # every open image, not only the current one
    dicom: list[str] = field(default_factory=list)  # DICOM_KINDS to write beside the panels

    def to_settings(self) -> dict[str, Any]:
        return {"panels": ",".join(self.panels), "format": self.format, "full_resolution": self.full_resolution,
                "caption": self.caption, "anonymize": self.anonymize, "sidecar": self.sidecar,
                "folder": str(self.folder), "dicom": ",".join(self.dicom)}

    @classmethod
    def from_settings(cls, get: Getter) -> ExportOptions:
        default = cls()
        panels = [p for p in str(get("export/panels", "side_by_side")).split(",") if p in PANELS]
        fmt = str(get("export/format", default.format))
        return cls(panels=panels or default.panels, format=fmt if fmt in FORMATS else default.format,
                   full_resolution=bool(get("export/full_resolution", True)), caption=bool(get("export/caption", True)),
                   anonymize=bool(get("export/anonymize", False)), sidecar=bool(get("export/sidecar", True)),
                   folder=Path(str(get("export/folder", str(default.folder)))),
                   dicom=[k for k in str(get("export/dicom", "")).split(",") if k in DICOM_KINDS])

    @property
    def dicom_panels(self) -> tuple[str, ...]:
        return ("overlay",) if "sc" in self.dicom else ()

    @property
    def dicom_objects(self) -> tuple[str, ...]:
        return tuple(kind for kind in ("gsps", "pmap") if kind in self.dicom)


@dataclass
class ExportItem:
    image: DisplayImage
    base: np.ndarray  # the original as displayed (window, inversion)
    explanation: CamResult
    model: ModelCard  # name (the JSON record), description (NOT FOR DIAGNOSIS) and decision thresholds (caption)
    index: int  # 1-based position in the export, used for anonymous names
    numbered: bool  # several images: names carry the index
    expects: dict[str, Any] | None = None  # the model's sidecar 'expects': the record says why it is out of domain
    view: Callable[[np.ndarray], np.ndarray] | None = None  # export_view.panel_view: as turned on screen, measured
    overlay: np.ndarray | None = None  # the overlay panel as on screen when it is not the one map's (All findings)
    overlay_caption: str | None = None  # what that overlay panel is, in place of the one map's caption
    window: tuple[float, float] | None = None  # the reader's window (centre, width) for a presentation state
    findings: list[tuple[str, float, np.ndarray]] | None = None  # All findings on screen: the presentation state's
    inverted: bool = False  # the reader flipped the grey scale (the presentation state's Presentation LUT Shape)
    spatial: tuple[int, bool] = (0, False)  # the reader's turn, then flip (the presentation state's)


def planned_files(options: ExportOptions, source: Path, frame: int, index: int, numbered: bool) -> list[Path]:
    """The files an export will write, known before anything is written (so overwrites can be confirmed)."""
    from viewer.export import explanation_stem, planned_files as export_files

    stem = explanation_stem(source, frame, index, numbered, options.anonymize)
    files: list[Path] = export_files(options.folder, stem, panels=options.panels, fmt=options.format,
                                     dicom_panels=options.dicom_panels, dicom_objects=options.dicom_objects,
                                     sidecar=options.sidecar)
    return files


def write_item(item: ExportItem, options: ExportOptions, style: OverlayStyle, scale: float,
               overwrite: bool) -> list[Path]:
    from viewer.export import explanation_stem, write_explanation
    from viewer.export.dicom_objects import window_of
    from viewer.model.domain import image_out_of_domain

    stem = explanation_stem(item.image.path, item.image.frame, item.index, item.numbered, options.anonymize)
    written: list[Path] = write_explanation(
        options.folder, stem, item.image, item.base, item.explanation, item.model, style, panels=options.panels,
        fmt=options.format, captioned=options.panels if options.caption else (), sidecar=options.sidecar,
        dicom_panels=options.dicom_panels, dicom_objects=options.dicom_objects,
        window=item.window if item.window is not None else window_of(item.image), findings=item.findings,
        inverted=item.inverted, spatial=item.spatial,
        anonymize=options.anonymize, overwrite=overwrite, scale=scale, instance_number=item.index,
        out_of_domain=image_out_of_domain(item.image, item.expects), view=item.view, overlay_image=item.overlay,
        overlay_caption=item.overlay_caption)
    return written


class ExportPlan:
    """One export asked for now: what it will write, and the job that writes it (`batch`: on the model thread)."""

    def __init__(self, state: ViewerState, options: ExportOptions, open_images: list[Path], zoom_percent: float):
        self.state, self.options = state, options
        self.batch = options.batch
        self.scale = 1.0 if options.full_resolution else zoom_percent / 100
        if options.batch:
            self.sources: list[Source] = [(path, 0) for path in open_images]
        else:
            image = state.image
            self.sources = [(image.path, image.frame)] if image is not None else []
        self.paths = [p for i, (path, frame) in enumerate(self.sources)
                      for p in planned_files(options, path, frame, i + 1, len(self.sources) > 1)]
        self.existing = [p for p in self.paths if p.exists()]

    def refusal(self) -> str | None:
        """Why this export cannot start, in one line; None when it can."""
        if self.state.image is None:
            return "Nothing to export: open an image first"
        if not self.batch and self.state.explanation is None:
            return "Nothing to export yet: the explanation has not finished"
        if not self.batch and self.options.dicom_objects and self.state.image.dataset is None:
            return ("A DICOM presentation state or parametric map needs a DICOM original to reference: this image "
                    "is not DICOM")
        return None

    def job(self, session: ModelSession, open_image: Callable[[Path, int], DisplayImage]) -> Callable[
            [Reporter], list[Path]]:
        state, options, scale, style = self.state, self.options, self.scale, self.state.style
        overwrite = bool(self.existing)
        if self.batch:
            sources, settings, inverted = self.sources, state.settings, state.inverted

            def batch(reporter: Reporter) -> list[Path]:
                return session.export_batch(sources, open_image, options, style, scale, inverted, settings,
                                            overwrite, reporter)
            return batch
        explanation, model, image = state.explanation, state.model, state.image
        assert explanation is not None and model is not None and image is not None and state.base is not None
        item = ExportItem(image=image, base=state.base, explanation=explanation.result, model=ModelCard.of(model),
                          index=1, numbered=False, expects=model.expects)
        from .export_view import panel_view  # the screen's orientation and measurements go into the panels

        item.view = panel_view(image, state.orientation, state.measurements)
        item.overlay = all_findings_overlay(state)  # None unless All findings is on and its maps are in
        item.overlay_caption = all_findings_caption(state) if item.overlay is not None else None
        from viewer.export.dicom_objects import window_of

        from .findings import items as finding_items, on_screen

        item.window, item.inverted = window_of(image, state.window), state.inverted
        item.spatial = state.orientation.spatial
        shown = on_screen(state)
        item.findings = finding_items(shown.findings) if shown is not None else None

        def single(_reporter: Reporter) -> list[Path]:
            return write_item(item, options, style, scale, overwrite)
        return single


def describe(written: list[Path]) -> str:
    return f"Exported {len(written)} file(s) to {written[0].parent}" if written else "Nothing exported"

