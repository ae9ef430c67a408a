"""The parts of a softcopy presentation state, each read with pydicom on its own so that a damaged one is skipped
with a note (viewer.io.presentation puts them together): layers, graphic and text objects, the window, the
displayed area, and which images and frames each applies to."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import cv2
import numpy as np
from pydicom import Dataset

from .failures import describe
from .windows import Window

T = TypeVar("T")

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
    justification: str = "LEFT"  # of the text in its box: LEFT, RIGHT or CENTER


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
        """x0, y0, x1, y1 in the image's pixel grid: from the top left pixel's corner to past the bottom right (the
        corners may come in either order: they are the displayed top left and bottom right, after any turn or flip)."""
        (x0, x1), (y0, y1) = (sorted((a, b)) for a, b in zip(self.top_left, self.bottom_right, strict=True))
        return x0 - 1.0, y0 - 1.0, float(x1), float(y1)

    def to_pixels(self, points: np.ndarray, rotation: int, flip: bool) -> np.ndarray:
        """DISPLAY `points` (fractions of the displayed area, (0, 0) its displayed top left) in the image's pixel grid
        before the spatial transformation (PS3.3 C.10.4, C.10.6: clockwise `rotation` first, then the flip)."""
        turn = np.linalg.matrix_power(np.array([[0.0, -1.0], [1.0, 0.0]]), rotation // 90 % 4)  # clockwise, y down
        shown = (np.diag([-1.0, 1.0]) if flip else np.eye(2)) @ turn
        # the corner pixels' centres turned onto the display; the displayed rectangle spans them and half a pixel
        centres = shown @ (np.array([self.top_left, self.bottom_right], dtype=np.float64) - 0.5).T
        low, high = centres.min(axis=1) - 0.5, centres.max(axis=1) + 0.5
        pixels: np.ndarray = (np.linalg.inv(shown) @ (low + np.asarray(points, dtype=np.float64) * (high - low)).T).T
        return pixels


def part(notes: list[str], what: str, read: Callable[[], T]) -> T | None:
    """`read()`, or None with a note when that part of the file is damaged."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 — a damaged part is skipped, never a crash
        notes.append(f"{what}: {describe(exc)}")
        return None


def items(ds: Dataset, keyword: str) -> Sequence[Dataset]:
    value = ds.get(keyword)
    return [item for item in value if isinstance(item, Dataset)] if value else []


def as_text(value: object) -> str:
    return "" if value is None else str(value).strip()


def targets(item: Dataset) -> Targets:
    """The images an item applies to (its Referenced Image Sequence); None when it names none (all of them)."""
    images = items(item, "ReferencedImageSequence")
    if not images:
        return None
    found: dict[str, tuple[int, ...]] = {}
    for image in images:
        uid = as_text(image.get("ReferencedSOPInstanceUID"))
        if not uid:
            raise ValueError("a referenced image without a SOP Instance UID")
        frames = image.get("ReferencedFrameNumber")
        found[uid] = found.get(uid, ()) + tuple(int(f) for f in many(frames))
    return found


def many(value: object) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes)) else [value]


def applies(images: Targets, sop_uid: str, frame: int) -> bool:
    if images is None:
        return True
    if sop_uid not in images:
        return False
    frames = images[sop_uid]
    return not frames or frame + 1 in frames


def read_layer(item: Dataset) -> Layer:
    name = as_text(item.get("GraphicLayer"))
    if not name:
        raise ValueError("a layer without a name")
    colour = None
    lab = many(item.get("GraphicLayerRecommendedDisplayCIELabValue"))
    grey = item.get("GraphicLayerRecommendedDisplayGrayscaleValue")
    if len(lab) == 3:
        colour = lab_to_rgb(tuple(int(v) for v in lab))  # type: ignore[arg-type]
    elif grey is not None:
        level = round(int(grey) * 255 / 65535)
        colour = (level, level, level)
    return Layer(name, int(item.get("GraphicLayerOrder", 0) or 0), colour,
                 as_text(item.get("GraphicLayerDescription")) or None)


def lab_to_rgb(value: tuple[int, int, int]) -> tuple[int, int, int]:
    """A DICOM-encoded CIELab colour (PS3.3 C.10.7.1.1: L* 0..100, a* and b* -128..127 scaled to 0..65535) as sRGB."""
    lab = np.array([[[value[0] * 100 / 65535, value[1] * 255 / 65535 - 128, value[2] * 255 / 65535 - 128]]],
                   dtype=np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)[0, 0]
    red, green, blue = (int(round(float(np.clip(c, 0, 1)) * 255)) for c in rgb)
    return red, green, blue


def read_annotation(item: Dataset, notes: list[str]) -> Annotation:
    layer = as_text(item.get("GraphicLayer"))
    if not layer:
        raise ValueError("no graphic layer named")
    images = targets(item)
    graphics = []
    for number, obj in enumerate(items(item, "GraphicObjectSequence"), 1):
        graphic = part(notes, f"graphic object {number} on layer {layer}", partial(read_graphic, obj))
        if graphic is not None:
            graphics.append(graphic)
    texts = []
    for number, obj in enumerate(items(item, "TextObjectSequence"), 1):
        text = part(notes, f"text object {number} on layer {layer}", partial(read_text, obj))
        if text is not None:
            texts.append(text)
    return Annotation(layer, images, tuple(graphics), tuple(texts))


def read_units(value: object) -> str:
    units = as_text(value).upper()
    if units == "MATRIX":
        return "PIXEL"
    if units not in UNITS:
        raise ValueError(f"annotation units {units or 'absent'!r}")
    return units


def read_graphic(item: Dataset) -> Graphic:
    kind = as_text(item.get("GraphicType")).upper()
    if kind not in POINTS:
        raise ValueError(f"graphic type {kind or 'absent'!r}")
    if int(item.get("GraphicDimensions", 2) or 2) != 2:
        raise ValueError("not two-dimensional")
    data = np.asarray([float(v) for v in many(item.get("GraphicData"))], dtype=np.float64)
    if data.size % 2 or not np.all(np.isfinite(data)):
        raise ValueError(f"graphic data of {data.size} values, not finite (x, y) pairs")
    points = data.reshape(-1, 2)
    least, most = POINTS[kind]
    if len(points) < least or (most is not None and len(points) != most):
        raise ValueError(f"{kind} with {len(points)} point(s)")
    return Graphic(kind, points, read_units(item.get("GraphicAnnotationUnits")),
                   as_text(item.get("GraphicFilled")).upper() == "Y")


def read_text(item: Dataset) -> Text:
    value = as_text(item.get("UnformattedTextValue"))
    anchor = box = None
    anchor_units = box_units = "PIXEL"
    if "AnchorPoint" in item:
        x, y = (float(v) for v in many(item.AnchorPoint))
        anchor, anchor_units = (x, y), read_units(item.get("AnchorPointAnnotationUnits"))
    if "BoundingBoxTopLeftHandCorner" in item:
        x0, y0 = (float(v) for v in many(item.BoundingBoxTopLeftHandCorner))
        x1, y1 = (float(v) for v in many(item.BoundingBoxBottomRightHandCorner))
        box, box_units = (x0, y0, x1, y1), read_units(item.get("BoundingBoxAnnotationUnits"))
    if anchor is None and box is None:
        raise ValueError("neither an anchor point nor a bounding box")
    values = [v for v in (anchor or ()) + (box or ()) if not np.isfinite(v)]
    if values:
        raise ValueError("a coordinate that is not a finite number")
    justification = as_text(item.get("BoundingBoxTextHorizontalJustification")).upper()
    return Text(value, anchor, anchor_units, box, box_units, as_text(item.get("AnchorPointVisibility")).upper() == "Y",
                justification if justification in ("RIGHT", "CENTER") else "LEFT")


def read_window(item: Dataset) -> Window | None:
    centres, widths = many(item.get("WindowCenter")), many(item.get("WindowWidth"))
    if not centres or not widths:
        return None
    explanation = many(item.get("WindowCenterWidthExplanation"))
    function = as_text(item.get("VOILUTFunction")).upper() or "LINEAR"
    return Window(float(centres[0]), float(widths[0]), as_text(explanation[0]) if explanation else "presentation state",
                  function)  # type: ignore[arg-type]  # Window refuses an unknown function: a note


def read_area(item: Dataset) -> Area:
    left, top = (int(v) for v in many(item.get("DisplayedAreaTopLeftHandCorner")))
    right, bottom = (int(v) for v in many(item.get("DisplayedAreaBottomRightHandCorner")))
    return Area(targets(item), (left, top), (right, bottom), as_text(item.get("PresentationSizeMode")) or None)
