"""Findings as a DICOM Grayscale Softcopy Presentation State (highdicom): contours and captions a PACS viewer draws
over the original, with the reader's window, and no pixel of the original changed or copied.

Each finding is one graphic layer holding one graphic annotation: its thresholded CAM contours as closed POLYLINEs
in PIXEL units, and one text object (label, score, method, model, NOT FOR DIAGNOSIS when the model says so). PIXEL
units are DICOM's: pixel (i, j) spans [i, i + 1] x [j, j + 1], as viewer.render.contours gives the polygons.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom import Dataset
from pydicom.uid import generate_uid

import viewer
from viewer.errors import ExportError

from .anonymize import DUMMIES, AnonymizationSession, anonymize_dataset
from .caption import NOT_FOR_DIAGNOSIS
from .dicom_common import CHARACTER_SET, MANUFACTURER, built_by_highdicom, fit, reference_header, save_object

SERIES_NUMBER = 9902  # after the Secondary Captures' 9901
CONTENT_LABEL = "RADCAM"
LAYER_COLOR = (97.14, -21.56, 94.48)  # CIELab yellow: seen over any grey
TEXT_HEIGHT = 0.035  # of the image's rows: one line of caption
CHAR_WIDTH = 0.45  # of a line's height (font and leading): a proportional font's mean advance, to count lines
MIN_TEXT_WIDTH = 0.4  # of the image's columns: a small outline's caption still gets a few words a line
_WRITTEN_BY_RADCAM = ("SeriesDescription", "ContentDescription", "ContentLabel", "UnformattedTextValue",
                      "GraphicLayerDescription")


@dataclass(frozen=True)
class GspsFinding:
    """One shown finding: what it is and its contours, N x 2 (x, y) in the source image's pixel grid."""

    label: str
    score: float | None
    method: str
    model: str
    contours: list[np.ndarray] = field(default_factory=list)
    not_for_diagnosis: bool = False

    @property
    def text(self) -> str:
        scored = f" {self.score:.3f}" if self.score is not None else ""
        words = [f"{self.label}{scored}", self.method, f"model {self.model}"]
        return " · ".join(words + ([NOT_FOR_DIAGNOSIS] if self.not_for_diagnosis else []))


def write_gsps(path: str | os.PathLike, source: Dataset, findings: Sequence[GspsFinding],
               window: tuple[float, float] | None, *, description: str, anonymize: bool = False,
               overwrite: bool = False, session: AnonymizationSession | None = None, frame: int = 0,
               inverted: bool = False, spatial: tuple[int, bool] = (0, False)) -> Dataset:
    """Write a GSPS referencing `source` (frame `frame` of a multi-frame one) with one annotation per finding, and
    `window` (centre, width in modality units) as its VOI LUT (None: the source's own windows), and return it.
    `inverted`: the reader flipped the grey scale from the original's own (MONOCHROME1 shows bright as dark);
    `spatial`: the reader's view turned clockwise by that many degrees, then flipped left-right when True."""
    from highdicom.color import CIELabColor
    from highdicom.content import PresentationLUTTransformation
    from highdicom.pr import (
        GraphicAnnotation,
        GraphicLayer,
        GrayscaleSoftcopyPresentationState,
        SoftcopyVOILUTTransformation,
    )

    if int(source.get("SamplesPerPixel") or 1) != 1:
        raise ExportError(f"cannot write {path}: a Grayscale Softcopy Presentation State needs a greyscale "
                          "original, and this one is in colour")
    ref = reference_header(source, path, "presentation state")
    if anonymize:
        ref = anonymize_dataset(ref, session)
    rows, columns = int(ref.get("Rows") or 0), int(ref.get("Columns") or 0)
    if not rows or not columns:
        raise ExportError(f"cannot write {path}: the original has no image size (Rows, Columns)")
    frames = int(ref.get("NumberOfFrames") or 1)
    if frames > 1 and "SharedFunctionalGroupsSequence" not in ref:
        raise ExportError(f"cannot write {path}: a presentation state needs a single-frame or enhanced "
                          "multi-frame original, and this one is a legacy multi-frame image")
    frame_number = frame + 1 if frames > 1 else None
    color = CIELabColor(*LAYER_COLOR)
    layers, annotations = [], []
    stacked = 0.0  # where the next caption without an outline goes, down the image's left edge
    for index, finding in enumerate(findings, 1):
        layer = GraphicLayer(f"FINDING_{index}", index, fit(finding.label), display_color=color)
        layers.append(layer)
        caption, stacked = _caption(finding, stacked, rows, columns)
        annotations.append(GraphicAnnotation(
            [ref], layer, referenced_frame_number=frame_number,
            graphic_objects=_outlines(finding.contours, rows, columns) or None, text_objects=[caption]))
    voi = None
    if window is not None:
        center, width = (float(v) for v in window)
        if not (np.isfinite(center) and np.isfinite(width) and width >= 1):
            raise ExportError(f"cannot write {path}: window {center:g}/{width:g} is not a usable VOI window")
        # lists: highdicom 0.28 splits a lone explanation string into one value per character
        voi = [SoftcopyVOILUTTransformation(window_center=[center], window_width=[width],
                                            window_explanation=["RadCAM reader's window"])]
    # A presentation state ignores the original's Photometric Interpretation: MONOCHROME1 needs INVERSE to look as
    # it does everywhere else (highdicom writes IDENTITY for all); the reader's own inversion flips it again.
    monochrome1 = str(ref.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1"
    shape = PresentationLUTTransformation("INVERSE" if monochrome1 != inverted else "IDENTITY")
    with warnings.catch_warnings(), built_by_highdicom(path, "presentation state", anonymize):
        warnings.simplefilter("ignore", UserWarning)  # single-component person names: the source's are what they are
        gsps = GrayscaleSoftcopyPresentationState(
            [ref], series_instance_uid=generate_uid(), series_number=SERIES_NUMBER, sop_instance_uid=generate_uid(),
            instance_number=1, manufacturer=MANUFACTURER, manufacturer_model_name=MANUFACTURER,
            software_versions=viewer.__version__, device_serial_number="", content_label=CONTENT_LABEL,
            content_description=fit(description), graphic_annotations=annotations or None,
            graphic_layers=layers or None, voi_lut_transformations=voi, presentation_lut_transformation=shape,
            series_description=fit(description),
            specific_character_set=CHARACTER_SET)
    _turn(gsps, spatial, rows, columns)
    return save_object(gsps, ref, path, anonymize=anonymize, session=session, keep=_WRITTEN_BY_RADCAM,
                       type1=_dummy_dates, overwrite=overwrite)


def _turn(gsps: Dataset, spatial: tuple[int, bool], rows: int, columns: int) -> None:
    """The Spatial Transformation (turn, then flip) and the displayed area's corners: the pixels shown top left and
    bottom right after it, numbered in the image before it (PS3.3 C.10.4, C.10.6)."""
    degrees, flip = int(spatial[0]) % 360 // 90 * 90, bool(spatial[1])
    gsps.ImageRotation, gsps.ImageHorizontalFlip = degrees, "Y" if flip else "N"
    turn = np.linalg.matrix_power(np.array([[0, -1], [1, 0]]), degrees // 90)  # clockwise with y down
    shown = (np.diag([-1, 1]) if flip else np.eye(2, dtype=int)) @ turn
    corners = [(x, y) for x in (1, columns) for y in (1, rows)]
    on_screen = [tuple(shown @ np.array(corner)) for corner in corners]
    top_left = corners[on_screen.index(min(on_screen, key=lambda p: (p[1], p[0])))]
    bottom_right = corners[on_screen.index(max(on_screen, key=lambda p: (p[1], p[0])))]
    for area in gsps.DisplayedAreaSelectionSequence:
        area.DisplayedAreaTopLeftHandCorner = list(top_left)
        area.DisplayedAreaBottomRightHandCorner = list(bottom_right)


def _dummy_dates(out: Dataset) -> None:
    # Type 1 here: the profile's X/D allows a dummy where removing would break the object
    out.PresentationCreationDate, out.PresentationCreationTime = DUMMIES["DA"], DUMMIES["TM"]


def _outlines(contours: Sequence[np.ndarray], rows: int, columns: int) -> list:
    """Closed POLYLINEs (first point repeated) kept inside the image; a contour of under 3 points is no outline."""
    from highdicom.pr import GraphicObject

    outlines = []
    for contour in contours:
        points = np.asarray(contour, dtype=np.float64).reshape(-1, 2)
        if len(points) < 3 or not np.isfinite(points).all():
            continue
        points = np.clip(points, 0.0, [float(columns), float(rows)])
        outlines.append(GraphicObject("POLYLINE", np.vstack([points, points[:1]]), "PIXEL"))
    return outlines


def _caption(finding: GspsFinding, stacked: float, rows: int, columns: int) -> tuple[Any, float]:
    """The finding's text in a box about as wide as its largest outline, from its left, standing on its top (below
    it when there is no room above), as many lines tall as the caption needs at that width: a viewer writes the text
    from the box's left edge, so a box wider than the outline would put it far from what it labels. Without an
    outline the box goes at the image's left edge, below the one before (`stacked`). Returns it and the next
    `stacked`."""
    from highdicom.pr import TextObject

    line = max(1.0, rows * TEXT_HEIGHT)
    shapes = [np.asarray(c, dtype=np.float64).reshape(-1, 2) for c in finding.contours if len(c) >= 3]
    biggest = max(shapes, key=lambda p: np.ptp(p[:, 0]) * np.ptp(p[:, 1])) if shapes else None
    outline = float(np.ptp(biggest[:, 0])) if biggest is not None else columns * 0.6
    width = min(float(columns), max(outline, columns * MIN_TEXT_WIDTH))
    lines = math.ceil(len(finding.text) * line * CHAR_WIDTH / width)
    height = min(float(rows), lines * line)
    if biggest is not None:
        left, top = float(biggest[:, 0].min()), float(biggest[:, 1].min()) - height
        top = top if top >= 0 else float(biggest[:, 1].max())  # no room above: below it
    else:
        left, top = 0.0, stacked
        stacked = min(float(rows), stacked + height)
    left = float(np.clip(left, 0.0, columns - width))
    top = float(np.clip(top, 0.0, rows - height))
    return TextObject(fit(finding.text, 1024), "PIXEL", bounding_box=(left, top, left + width, top + height),
                      text_justification="LEFT"), stacked
