"""Softcopy presentation states read back (a GSPS: what to draw over which image, and how to window it).

Read with pydicom: the images referenced, each graphic annotation's objects (POINT, POLYLINE, INTERPOLATED, CIRCLE,
ELLIPSE) and text objects on their layers, the Softcopy VOI LUT window, the displayed area and the spatial
transformation. `PresentationState.drawing(sop_uid, frame, size)` resolves what one frame shows into that image's
pixel grid, PIXEL units as they are (PS3.3 C.10.5.1.2: the top left pixel spans [0, 1], so pixel i spans [i, i + 1],
as RadCAM's scene does) and DISPLAY units scaled to the displayed area. A damaged part is skipped with a note
(`warning()` sums them up in one line); only a file that is no presentation state at all is refused.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import Dataset, dcmread

from ..errors import StudyError
from .failures import describe
from .presentation_parts import (
    Annotation,
    Area,
    Layer,
    Point,
    Targets,
    applies,
    as_text,
    items,
    lab_to_rgb,
    part,
    read_annotation,
    read_area,
    read_layer,
    read_window,
    targets,
)
from .windows import Window

__all__ = ["PRESENTATION_CLASSES", "Drawing", "Label", "PresentationState", "Shape", "is_presentation_state",
           "lab_to_rgb", "presentations_beside", "read_presentation", "referenced_instances"]

# SOP classes whose graphic annotations RadCAM draws (the Color and Pseudo-Color states share the modules).
PRESENTATION_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State",
    "1.2.840.10008.5.1.4.1.1.11.2": "Color Softcopy Presentation State",
    "1.2.840.10008.5.1.4.1.1.11.3": "Pseudo-Color Softcopy Presentation State",
}
@dataclass(frozen=True)
class Shape:
    """A graphic resolved for one frame: points in its pixel grid, in its layer's colour."""

    kind: str
    points: np.ndarray
    filled: bool
    layer: str
    colour: tuple[int, int, int] | None


@dataclass(frozen=True)
class Label:
    text: str
    anchor: Point | None
    box: tuple[float, float, float, float] | None
    anchor_visible: bool
    layer: str
    colour: tuple[int, int, int] | None
    justification: str = "LEFT"


@dataclass(frozen=True)
class Drawing:
    """What a presentation state shows over one frame, in its pixel grid (drawn in layer order)."""

    shapes: tuple[Shape, ...]
    labels: tuple[Label, ...]
    window: Window | None
    area: tuple[float, float, float, float]  # the displayed area, x0, y0, x1, y1


@dataclass
class PresentationState:
    path: Path | None
    sop_instance_uid: str
    label: str
    description: str
    created: str  # PresentationCreationDate + Time, sortable; "" when absent
    references: dict[str, tuple[int, ...]]
    layers: dict[str, Layer] = field(default_factory=dict)
    annotations: list[Annotation] = field(default_factory=list)
    windows: list[tuple[Targets, Window]] = field(default_factory=list)
    areas: list[Area] = field(default_factory=list)
    rotation: int = 0  # clockwise degrees, before the flip (Spatial Transformation module)
    flip: bool = False
    lut_shape: str | None = None  # IDENTITY (low values black) or INVERSE, whatever the image's photometry
    notes: list[str] = field(default_factory=list)

    def applies_to(self, sop_uid: str | None, frame: int = 0) -> bool:
        return sop_uid is not None and applies(self.references, sop_uid, frame)

    def warning(self) -> str | None:
        """The damaged parts that were skipped, in one line; None when none."""
        if not self.notes:
            return None
        more = f" (and {len(self.notes) - 1} more)" if len(self.notes) > 1 else ""
        return f"presentation state {self.label!r}: skipped what was damaged: {self.notes[0]}{more}"

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "label": self.label, "description": self.description,
                "created": self.created or None, "layers": sorted(self.layers),
                "annotations": len(self.annotations), "windows": [w.as_dict() for _, w in self.windows],
                "images": sorted(self.references), "warnings": list(self.notes)}

    def drawing(self, sop_uid: str, frame: int, size: tuple[int, int]) -> Drawing:
        """Frame `frame` (0-based) of image `sop_uid`, `size` = (columns, rows): its shapes, labels and window."""
        chosen = next((a for a in self.areas if applies(a.images, sop_uid, frame)),
                      Area(None, (1, 1), (int(size[0]), int(size[1]))))
        area = chosen.pixel_box()
        to_pixels = partial(_to_pixels, area=chosen, rotation=self.rotation, flip=self.flip)
        shapes: list[tuple[int, Shape]] = []
        labels: list[tuple[int, Label]] = []
        for annotation in self.annotations:
            if not applies(annotation.images, sop_uid, frame):
                continue
            layer = self.layers.get(annotation.layer, Layer(annotation.layer, 0, None))
            for graphic in annotation.graphics:
                points = to_pixels(graphic.points, graphic.units)
                shapes.append((layer.order, Shape(graphic.kind, points, graphic.filled, layer.name, layer.colour)))
            for text in annotation.texts:
                anchor = None if text.anchor is None else _point(text.anchor, text.anchor_units, to_pixels)
                box = None
                if text.box is not None:
                    (x0, y0), (x1, y1) = (_point(text.box[:2], text.box_units, to_pixels),
                                          _point(text.box[2:], text.box_units, to_pixels))
                    box = (x0, y0, x1, y1)
                labels.append((layer.order, Label(text.text, anchor, box, text.anchor_visible, layer.name,
                                                  layer.colour, text.justification)))
        window = next((w for images, w in self.windows if applies(images, sop_uid, frame)), None)
        return Drawing(tuple(s for _, s in sorted(shapes, key=lambda p: p[0])),
                       tuple(t for _, t in sorted(labels, key=lambda p: p[0])), window, area)


def is_presentation_state(ds: Dataset) -> bool:
    return str(ds.get("SOPClassUID", "")) in PRESENTATION_CLASSES


def read_presentation(source: Path | Dataset) -> PresentationState:
    """A presentation state from a file or a data set; StudyError when it is not one (or not DICOM)."""
    path = source if isinstance(source, Path) else None
    where = f"{path}: " if path else ""
    ds: Dataset
    if isinstance(source, Path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(source)
        except Exception as exc:  # noqa: BLE001 — any unreadable file is one clear refusal
            raise StudyError(f"{where}not a readable DICOM file ({describe(exc)})") from exc
    else:
        ds = source
    if not is_presentation_state(ds):
        raise StudyError(f"{where}not a softcopy presentation state (SOP class {ds.get('SOPClassUID', 'absent')})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's value warnings: the notes below say what was skipped
        return _read(ds, path)


def referenced_instances(ds: Dataset) -> dict[str, tuple[int, ...]]:
    """SOP Instance UID -> 1-based frames (() for every frame) of the images a presentation state applies to."""
    found: dict[str, tuple[int, ...]] = {}
    for series in items(ds, "ReferencedSeriesSequence"):
        found.update(targets(series) or {})
    return found


def _read(ds: Dataset, path: Path | None) -> PresentationState:
    notes: list[str] = []
    references = part(notes, "the referenced images", lambda: referenced_instances(ds)) or {}
    if not references:
        notes.append("it references no image")
    created = f"{as_text(ds.get('PresentationCreationDate'))}{as_text(ds.get('PresentationCreationTime'))}"
    state = PresentationState(path, as_text(ds.get("SOPInstanceUID")), as_text(ds.get("ContentLabel")) or "UNNAMED",
                              as_text(ds.get("ContentDescription")), created, references, notes=notes)
    for item in items(ds, "GraphicLayerSequence"):
        layer = part(notes, "a graphic layer", partial(read_layer, item))
        if layer is not None:
            state.layers[layer.name] = layer
    for number, item in enumerate(items(ds, "GraphicAnnotationSequence"), 1):
        annotation = part(notes, f"graphic annotation {number}", partial(read_annotation, item, notes))
        if annotation is not None:
            state.annotations.append(annotation)
    for item in items(ds, "SoftcopyVOILUTSequence"):
        window = part(notes, "the VOI window", partial(read_window, item))
        if window is not None:
            state.windows.append((targets(item), window))
        elif "VOILUTSequence" in item:
            notes.append("a VOI LUT table (only a window centre and width is applied)")
    for item in items(ds, "DisplayedAreaSelectionSequence"):
        area = part(notes, "the displayed area", partial(read_area, item))
        if area is not None:
            state.areas.append(area)
    rotation = part(notes, "the image rotation", lambda: int(ds.get("ImageRotation", 0) or 0)) or 0
    if rotation % 90:
        notes.append(f"an image rotation of {rotation} degrees (only quarter turns are drawn)")
    state.rotation = rotation % 360 // 90 * 90
    state.flip = as_text(ds.get("ImageHorizontalFlip")).upper() == "Y"
    shape = as_text(ds.get("PresentationLUTShape")).upper()
    if shape in ("IDENTITY", "INVERSE"):
        state.lut_shape = shape
    elif "PresentationLUTSequence" in ds:
        notes.append("a Presentation LUT table (only the shapes IDENTITY and INVERSE are applied)")
    return state

def _to_pixels(points: np.ndarray, units: str, area: Area, rotation: int, flip: bool) -> np.ndarray:
    if units == "PIXEL":
        return points.astype(np.float64, copy=True)
    return area.to_pixels(points, rotation, flip)


def _point(point: Sequence[float], units: str, to_pixels: Callable[[np.ndarray, str], np.ndarray]) -> Point:
    x, y = to_pixels(np.asarray([point], dtype=np.float64), units)[0]
    return float(x), float(y)


def presentations_beside(image: Path, sop_uid: str | None, largest: int = 64 << 20) -> list[PresentationState]:
    """The presentation states in `image`'s folder that apply to it (`radcam-cli info` on one file), oldest first;
    files that are not one, or cannot be read, are passed over in silence."""
    if not sop_uid:
        return []
    found = []
    for path in sorted(p for p in image.parent.iterdir() if p != image):
        try:
            if not path.is_file() or path.stat().st_size > largest:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(path, stop_before_pixels=True)
            if is_presentation_state(ds) and sop_uid in referenced_instances(ds):
                found.append(read_presentation(ds))
                found[-1].path = path
        except Exception:  # noqa: BLE001, S112 — a file beside the image that is no presentation state
            continue
    return sorted(found, key=lambda state: state.created)
