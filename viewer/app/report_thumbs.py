"""Thumbnails for the review report: each image's overlay as the session made it (its model, method, layer and
CAM threshold), about 256 px, as PNG bytes; the plain image with the reason when there can be no overlay.

The session's model is used only when its file is where the session says and has the same SHA-256 (another file is
another model: its maps would not be the ones the reader judged). Loading imports TensorFlow: callers run this as a
job, and the viewer passes its own engine when it holds the session's model already.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from viewer.errors import RadcamError
from viewer.render.defaults import DEFAULTS

from .jobs import Quiet, Reporter
from .report import ImageKey, Report
from .review import Entry, SessionSettings
from .session import file_sha256
from .worklist import image_key

if TYPE_CHECKING:
    from viewer.cam import CamEngine
    from viewer.render import ColorMap

SIDE = 256  # px, the thumbnail's longer side


@dataclass(frozen=True)
class Thumbnail:
    png: bytes | None  # None: the image could not be read
    overlay: bool  # True: the session's map on the image; False: the image alone (`why` says why)
    why: str = ""


def model_engine(report: Report) -> tuple[CamEngine | None, str]:
    """The CAM engine of the report's model, or None and the reason there is none (one line)."""
    reader = report.readers[0]
    model = reader.session.model
    if model is None:
        return None, "the session has no model"
    path = Path(model.path)
    if not path.is_absolute() and reader.path is not None:
        path = reader.path.absolute().parent / path
    if not path.is_file():
        return None, f"the session's model {path.name} is not at {path.parent}" if not report.anonymize \
            else "the session's model file is not where the session says"
    if file_sha256(path) != model.sha256:
        return None, "the model file has changed since the session was made (another SHA-256)"
    try:
        from viewer.cam import CamEngine
        from viewer.model import load_model

        return CamEngine(load_model(path)), ""
    except RadcamError as error:
        return None, f"the session's model cannot be loaded: {error}" if not report.anonymize \
            else "the session's model cannot be loaded"


def thumbnails(report: Report, reporter: Reporter | None = None, engine: CamEngine | None = None,
               overlays: bool = True) -> dict[ImageKey, Thumbnail]:
    """One thumbnail per image of the report; `engine` (the viewer's, of the same model) skips loading one."""
    reporter = reporter or Quiet()
    why = "overlays not asked for"
    if overlays and engine is None:
        engine, why = model_engine(report)
    settings = report.readers[0].session.settings
    entries = report.entries()
    result: dict[ImageKey, Thumbnail] = {}
    for done, entry in enumerate(entries):
        if reporter.cancelled():
            break
        result[image_key(entry)] = _thumbnail(report, entry, engine if overlays else None, why, settings)
        reporter.progress((done + 1) / max(1, len(entries)))
    return result


def _thumbnail(report: Report, entry: Entry, engine: CamEngine | None, why: str,
               settings: SessionSettings) -> Thumbnail:
    from viewer.io import open_image
    from viewer.render import fit_within, overlay

    path = _found(report, entry)
    if path is None:
        return Thumbnail(None, False, "the image is not where the session says")
    try:
        pixels = open_image(path, entry.frame).render()
    except RadcamError as error:
        return Thumbnail(None, False, "the image cannot be opened" + ("" if report.anonymize else f": {error}"))
    if engine is None:
        return Thumbnail(_png(fit_within(pixels, SIDE)), False, why)
    try:
        result = engine.explain(pixels, method=settings.method, layer=settings.layer)
        drawn = overlay(pixels, result.cam, threshold=settings.threshold,
                        colormap=cast("ColorMap", settings.colormap or DEFAULTS.colormap))
    except RadcamError as error:
        return Thumbnail(_png(fit_within(pixels, SIDE)), False,
                         f"no {settings.method} map" + ("" if report.anonymize else f": {error}"))
    return Thumbnail(_png(fit_within(drawn, SIDE)), True)


def _found(report: Report, entry: Entry) -> Path | None:
    """The image's file as any reader's session has it (the first that exists)."""
    key = image_key(entry)
    for reader in report.readers:
        held = reader.by_key.get(key)
        if held is not None and Path(held.path).is_file():
            return Path(held.path)
    return None


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
