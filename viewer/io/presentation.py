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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydicom import Dataset, dcmread

from ..errors import StudyError
from .failures import describe
from .windows import Window

# SOP classes whose graphic annotations RadCAM draws (the Color and Pseudo-Color states share the modules).
PRESENTATION_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State",
    "1.2.840.10008.5.1.4.1.1.11.2": "Color Softcopy Presentation State",
    "1.2.840.10008.5.1.4.1.1.11.3": "Pseudo-Color Softcopy Presentation State",
}
POINTS = {"POINT": (1, 1), "CIRCLE": (2, 2), "ELLIPSE": (4, 4), "POLYLINE": (2, None), "INTERPOLATED": (2, None)}
UNITS = ("PIXEL", "DISPLAY")  # MATRIX (a Display Area's own grid) is read as PIXEL: the same for 1:1 areas
Targets = dict[str, tuple[int, ...]] | None  # SOP Instance UID -> 1-based frames (() = every frame); None: all
Point = tuple[float, float]


@dataclass(frozen=True)
class Layer:
    name: str
    order: int
    colour: tuple[int, int, int] | None  # the layer's recommended colour (CIELab or grey), RGB
    description: str | None = None


@dataclass(frozen=True)
class Graphic:
    kind: str  # one of POINTS
    points: np.ndarray  # float64 (N, 2) x, y in `units`
    units: str
    filled: bool = False


@dataclass(frozen=True)
class Text:
    text: str
    anchor: Point | None = None
    anchor_units: str = "PIXEL"
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1
    box_units: str = "PIXEL"
    anchor_visible: bool = False


@dataclass(frozen=True)
class Annotation:
    layer: str
    images: Targets
    graphics: tuple[Graphic, ...]
    texts: tuple[Text, ...]


@dataclass(frozen=True)
class Area:
    """Displayed Area Selection: the corners are pixel numbers (1-based, inclusive) as the file gives them."""

    images: Targets
    top_left: tuple[int, int]
    bottom_right: tuple[int, int]
    size_mode: str | None = None

    def pixel_box(self) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 in the image's pixel grid: from the top left pixel's corner to past the bottom right."""
        return (self.top_left[0] - 1.0, self.top_left[1] - 1.0, float(self.bottom_right[0]),
                float(self.bottom_right[1]))


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
    rotation: int = 0  # clockwise degrees, after the flip (Spatial Transformation module)
    flip: bool = False
    notes: list[str] = field(default_factory=list)

    def applies_to(self, sop_uid: str | None, frame: int = 0) -> bool:
        return sop_uid is not None and _applies(self.references, sop_uid, frame)

    def warning(self) -> str | None:
        """The damaged parts that were skipped, in one line; None when none."""
        if not self.notes:
            return None
        more = f" (and {len(self.notes) - 1} more)" if len(self.notes) > 1 else ""
        return f"presentation state {self.label!r}: skipped what was damaged: {self.notes[0]}{more}"

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "label": self.label, "description": self.description,
                "created": self.created or None, "layers": sorted(self.layers),
                "annotations": len(self.annotations), "windows": [w.as_dict() for _, w in self.windows]}

    def drawing(self, sop_uid: str, frame: int, size: tuple[int, int]) -> Drawing:
        """Frame `frame` (0-based) of image `sop_uid`, `size` = (columns, rows): its shapes, labels and window."""
        area = next((a.pixel_box() for a in self.areas if _applies(a.images, sop_uid, frame)),
                    (0.0, 0.0, float(size[0]), float(size[1])))
        shapes: list[tuple[int, Shape]] = []
        labels: list[tuple[int, Label]] = []
        for annotation in self.annotations:
            if not _applies(annotation.images, sop_uid, frame):
                continue
            layer = self.layers.get(annotation.layer, Layer(annotation.layer, 0, None))
            for graphic in annotation.graphics:
                points = _to_pixels(graphic.points, graphic.units, area)
                shapes.append((layer.order, Shape(graphic.kind, points, graphic.filled, layer.name, layer.colour)))
            for text in annotation.texts:
                anchor = None if text.anchor is None else _point(text.anchor, text.anchor_units, area)
                box = None
                if text.box is not None:
                    (x0, y0), (x1, y1) = (_point(text.box[:2], text.box_units, area),
                                          _point(text.box[2:], text.box_units, area))
                    box = (x0, y0, x1, y1)
                labels.append((layer.order, Label(text.text, anchor, box, text.anchor_visible, layer.name,
                                                  layer.colour)))
        window = next((w for images, w in self.windows if _applies(images, sop_uid, frame)), None)
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
    for series in _items(ds, "ReferencedSeriesSequence"):
        found.update(_targets(series) or {})
    return found


def _read(ds: Dataset, path: Path | None) -> PresentationState:
    notes: list[str] = []
    references = _part(notes, "the referenced images", lambda: referenced_instances(ds)) or {}
    if not references:
        notes.append("it references no image")
    created = f"{_text(ds.get('PresentationCreationDate'))}{_text(ds.get('PresentationCreationTime'))}"
    state = PresentationState(path, _text(ds.get("SOPInstanceUID")), _text(ds.get("ContentLabel")) or "UNNAMED",
                              _text(ds.get("ContentDescription")), created, references, notes=notes)
    for item in _items(ds, "GraphicLayerSequence"):
        layer = _part(notes, "a graphic layer", lambda item=item: _layer(item))
        if layer is not None:
            state.layers[layer.name] = layer
    for number, item in enumerate(_items(ds, "GraphicAnnotationSequence"), 1):
        annotation = _part(notes, f"graphic annotation {number}", lambda item=item: _annotation(item, notes))
        if annotation is not None:
            state.annotations.append(annotation)
    for item in _items(ds, "SoftcopyVOILUTSequence"):
        window = _part(notes, "the VOI window", lambda item=item: _window(item))
        if window is not None:
            state.windows.append((_targets(item), window))
        elif "VOILUTSequence" in item:
            notes.append("a VOI LUT table (only a window centre and width is applied)")
    for item in _items(ds, "DisplayedAreaSelectionSequence"):
        area = _part(notes, "the displayed area", lambda item=item: _area(item))
        if area is not None:
            state.areas.append(area)
    rotation = _part(notes, "the image rotation", lambda: int(ds.get("ImageRotation", 0) or 0)) or 0
    if rotation % 90:
        notes.append(f"an image rotation of {rotation} degrees (only quarter turns are drawn)")
    state.rotation = rotation % 360 // 90 * 90
    state.flip = _text(ds.get("ImageHorizontalFlip")).upper() == "Y"
    return state


def _part(notes: list[str], what: str, read: Any) -> Any:
    """`read()`, or None with a note when that part of the file is damaged."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 — a damaged part is skipped, never a crash
        notes.append(f"{what}: {describe(exc)}")
        return None


def _items(ds: Dataset, keyword: str) -> Sequence[Dataset]:
    value = ds.get(keyword)
    return [item for item in value if isinstance(item, Dataset)] if value else []


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _targets(item: Dataset) -> Targets:
    """The images an item applies to (its Referenced Image Sequence); None when it names none (all of them)."""
    images = _items(item, "ReferencedImageSequence")
    if not images:
        return None
    found: dict[str, tuple[int, ...]] = {}
    for image in images:
        uid = _text(image.get("ReferencedSOPInstanceUID"))
        if not uid:
            raise ValueError("a referenced image without a SOP Instance UID")
        frames = image.get("ReferencedFrameNumber")
        found[uid] = found.get(uid, ()) + tuple(int(f) for f in _many(frames))
    return found


def _many(value: object) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes)) else [value]


def _applies(images: Targets, sop_uid: str, frame: int) -> bool:
    if images is None:
        return True
    if sop_uid not in images:
        return False
    frames = images[sop_uid]
    return not frames or frame + 1 in frames


def _layer(item: Dataset) -> Layer:
    name = _text(item.get("GraphicLayer"))
    if not name:
        raise ValueError("a layer without a name")
    colour = None
    lab = _many(item.get("GraphicLayerRecommendedDisplayCIELabValue"))
    grey = item.get("GraphicLayerRecommendedDisplayGrayscaleValue")
    if len(lab) == 3:
        colour = lab_to_rgb(tuple(int(v) for v in lab))  # type: ignore[arg-type]
    elif grey is not None:
        level = round(int(grey) * 255 / 65535)
        colour = (level, level, level)
    return Layer(name, int(item.get("GraphicLayerOrder", 0) or 0), colour,
                 _text(item.get("GraphicLayerDescription")) or None)


def lab_to_rgb(value: tuple[int, int, int]) -> tuple[int, int, int]:
    """A DICOM-encoded CIELab colour (PS3.3 C.10.7.1.1: L* 0..100, a* and b* -128..127 scaled to 0..65535) as sRGB."""
    lab = np.array([[[value[0] * 100 / 65535, value[1] * 255 / 65535 - 128, value[2] * 255 / 65535 - 128]]],
                   dtype=np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)[0, 0]
    red, green, blue = (int(round(float(np.clip(c, 0, 1)) * 255)) for c in rgb)
    return red, green, blue


def _annotation(item: Dataset, notes: list[str]) -> Annotation:
    layer = _text(item.get("GraphicLayer"))
    if not layer:
        raise ValueError("no graphic layer named")
    images = _targets(item)
    graphics = []
    for number, obj in enumerate(_items(item, "GraphicObjectSequence"), 1):
        graphic = _part(notes, f"graphic object {number} on layer {layer}", lambda obj=obj: _graphic(obj))
        if graphic is not None:
            graphics.append(graphic)
    texts = []
    for number, obj in enumerate(_items(item, "TextObjectSequence"), 1):
        text = _part(notes, f"text object {number} on layer {layer}", lambda obj=obj: _text_object(obj))
        if text is not None:
            texts.append(text)
    return Annotation(layer, images, tuple(graphics), tuple(texts))


def _units(value: object) -> str:
    units = _text(value).upper()
    if units == "MATRIX":
        return "PIXEL"
    if units not in UNITS:
        raise ValueError(f"annotation units {units or 'absent'!r}")
    return units


def _graphic(item: Dataset) -> Graphic:
    kind = _text(item.get("GraphicType")).upper()
    if kind not in POINTS:
        raise ValueError(f"graphic type {kind or 'absent'!r}")
    if int(item.get("GraphicDimensions", 2) or 2) != 2:
        raise ValueError("not two-dimensional")
    data = np.asarray([float(v) for v in _many(item.get("GraphicData"))], dtype=np.float64)
    if data.size % 2 or not np.all(np.isfinite(data)):
        raise ValueError(f"graphic data of {data.size} values, not finite (x, y) pairs")
    points = data.reshape(-1, 2)
    least, most = POINTS[kind]
    if len(points) < least or (most is not None and len(points) != most):
        raise ValueError(f"{kind} with {len(points)} point(s)")
    return Graphic(kind, points, _units(item.get("GraphicAnnotationUnits")),
                   _text(item.get("GraphicFilled")).upper() == "Y")


def _text_object(item: Dataset) -> Text:
    value = _text(item.get("UnformattedTextValue"))
    anchor = box = None
    anchor_units = box_units = "PIXEL"
    if "AnchorPoint" in item:
        x, y = (float(v) for v in _many(item.AnchorPoint))
        anchor, anchor_units = (x, y), _units(item.get("AnchorPointAnnotationUnits"))
    if "BoundingBoxTopLeftHandCorner" in item:
        x0, y0 = (float(v) for v in _many(item.BoundingBoxTopLeftHandCorner))
        x1, y1 = (float(v) for v in _many(item.BoundingBoxBottomRightHandCorner))
        box, box_units = (x0, y0, x1, y1), _units(item.get("BoundingBoxAnnotationUnits"))
    if anchor is None and box is None:
        raise ValueError("neither an anchor point nor a bounding box")
    values = [v for v in (anchor or ()) + (box or ()) if not np.isfinite(v)]
    if values:
        raise ValueError("a coordinate that is not a finite number")
    return Text(value, anchor, anchor_units, box, box_units, _text(item.get("AnchorPointVisibility")).upper() == "Y")


def _window(item: Dataset) -> Window | None:
    centres, widths = _many(item.get("WindowCenter")), _many(item.get("WindowWidth"))
    if not centres or not widths:
        return None
    explanation = _many(item.get("WindowCenterWidthExplanation"))
    function = _text(item.get("VOILUTFunction")).upper() or "LINEAR"
    return Window(float(centres[0]), float(widths[0]), _text(explanation[0]) if explanation else "presentation state",
                  function)  # type: ignore[arg-type]  # Window refuses an unknown function: a note


def _area(item: Dataset) -> Area:
    left, top = (int(v) for v in _many(item.get("DisplayedAreaTopLeftHandCorner")))
    right, bottom = (int(v) for v in _many(item.get("DisplayedAreaBottomRightHandCorner")))
    if right < left or bottom < top:
        raise ValueError(f"bottom right corner ({right}, {bottom}) above or left of the top left ({left}, {top})")
    return Area(_targets(item), (left, top), (right, bottom), _text(item.get("PresentationSizeMode")) or None)


def _to_pixels(points: np.ndarray, units: str, area: tuple[float, float, float, float]) -> np.ndarray:
    if units == "PIXEL":
        return points.astype(np.float64, copy=True)
    x0, y0, x1, y1 = area
    return np.column_stack([x0 + points[:, 0] * (x1 - x0), y0 + points[:, 1] * (y1 - y0)])


def _point(point: Sequence[float], units: str, area: tuple[float, float, float, float]) -> Point:
    x, y = _to_pixels(np.asarray([point], dtype=np.float64), units, area)[0]
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
