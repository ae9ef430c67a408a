"""File → Export: the dialog's options applied to viewer.export.write_explanation (Qt-free on purpose: a single
export runs on the IO thread, a batch on the model thread, which explains each image first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.export import OverlayStyle, explanation_stem, planned_files as export_files, write_explanation
from viewer.io import DisplayImage

from .export_dialog import ExportOptions


@dataclass
class ExportItem:
    image: DisplayImage
    base: np.ndarray  # the original as displayed (window, inversion)
    explanation: object  # viewer.cam.CamResult
    model: str  # the model's name, for the JSON record
    index: int  # 1-based position in the export, used for anonymous names
    numbered: bool  # several images: names carry the index
    expects: dict | None = None  # the model's sidecar 'expects': the record says why the image is out of its domain


def planned_files(options: ExportOptions, source: Path, frame: int, index: int, numbered: bool) -> list[Path]:
    """The files an export will write, known before anything is written (so overwrites can be confirmed)."""
    stem = explanation_stem(source, frame, index, numbered, options.anonymize)
    return export_files(options.folder, stem, panels=options.panels, fmt=options.format, sidecar=options.sidecar)


def write_item(item: ExportItem, options: ExportOptions, style: OverlayStyle, scale: float,
               overwrite: bool) -> list[Path]:
    from viewer.model.domain import image_out_of_domain

    stem = explanation_stem(item.image.path, item.image.frame, item.index, item.numbered, options.anonymize)
    return write_explanation(options.folder, stem, item.image, item.base, item.explanation, item.model, style,
                             panels=options.panels, fmt=options.format,
                             captioned=options.panels if options.caption else (), sidecar=options.sidecar,
                             anonymize=options.anonymize, overwrite=overwrite, scale=scale,
                             instance_number=item.index, out_of_domain=image_out_of_domain(item.image, item.expects))
