"""A softcopy presentation state (GSPS) opened with an image, drawn over the Original view by RadCAM itself.

The loader attaches a presentation state to the images it references when they are opened together
(`Instance.presentations`); this layer reads the newest one that applies to the frame on screen
(viewer.io.presentation) and draws its graphics as vector paths with a cosmetic pen (one width in screen pixels at
every zoom, as the findings' outlines) in its layers' colours, its text in screen-sized labels, and applies its window
as the reader's window and its quarter turns and flip as the view's orientation. View → Presentation State turns it
off and on (taking back the window and orientation it applied, unless the reader changed them); it is on by
default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPainterPath, QPen, QPolygonF, QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from viewer.app import ViewerState
from viewer.app.events import Event
from viewer.app.orientation import Orientation
from viewer.errors import StudyError
from viewer.io import DisplayImage, LoadResult, Window
from viewer.io.presentation import Drawing, Label, PresentationState, Shape, read_presentation

from .scene_text import label_font, text_block
from .views import ImageView

DEFAULT_COLOUR = (255, 215, 0)  # a layer without a recommended colour
HALO = QColor(0, 0, 0, 200)
LINE_PX, HALO_PX = 2.0, 4.0
MARKER_PX = 6.0  # a POINT's cross, half its size in screen pixels
TEXT_WIDTH_PX = 300  # a long caption (label, score, method, model, NOT FOR DIAGNOSIS) wraps instead of running off
MIN_TEXT_WIDTH_PX = 120  # a caption box narrow on screen still gets a few words a line
Z = 0.9  # above the findings' outlines and labels


class PresentationLayer:
    def __init__(self, state: ViewerState, view: ImageView, report: Callable[[str], None]) -> None:
        self.state, self.view, self.report = state, view, report
        self.enabled = True
        self.available: Event[bool] = Event("available")  # whether the image on screen has a presentation state
        self.attached: dict[Path, list[Path]] = {}  # image file -> the presentation states opened with it
        self.read: dict[Path, PresentationState | None] = {}  # parsed once; None: could not be read (reported)
        self.items: list[QGraphicsItem] = []
        self.shown: PresentationState | None = None
        self.window: Window | None = None  # the window this layer applied (taken back when turned off)
        self.orientation: Orientation | None = None  # the flip and turn it applied (likewise)
        self.inversion: bool | None = None  # the reader's inversion its Presentation LUT Shape set (likewise)
        state.connect("image", self._new_image)
        view.zoomChanged.connect(self.update)  # captions wrap to their boxes' width on screen

    # -- what is attached to what ---------------------------------------------------------------------------

    def add(self, result: LoadResult) -> None:
        """Remember the presentation states the loader attached to the images just listed."""
        changed = False
        for study in result.studies:
            for series in study.series:
                for instance in series.instances:
                    if instance.presentations:
                        known = self.attached.setdefault(instance.path.resolve(), [])
                        known += [p for p in instance.presentations if p not in known]
                        changed = True
        if changed and self.state.image is not None and self.shown is None:
            self.update()

    def states_for(self, image: DisplayImage) -> list[PresentationState]:
        """The readable presentation states that apply to the frame `image` shows, oldest first."""
        sop_uid = image.metadata.get("sop_instance_uid")
        found = []
        for path in self.attached.get(Path(image.path).resolve(), []):
            if path not in self.read:
                self.read[path] = self._read(path)
            state = self.read[path]
            if state is not None and state.applies_to(sop_uid, image.frame):
                found.append(state)
        return sorted(found, key=lambda s: s.created)

    def _read(self, path: Path) -> PresentationState | None:
        try:
            state = read_presentation(path)
        except StudyError as exc:
            self.report(str(exc) if not self.state.anonymous else "A presentation state could not be read")
            return None
        if (warning := state.warning()) is not None:
            self.report(warning)  # one line for the whole file, however many parts were damaged
        return state

    # -- drawing --------------------------------------------------------------------------------------------

    def _new_image(self, _image: object) -> None:
        # show_image put the file's own window and orientation back: the presentation state's apply again
        self.window, self.orientation, self.inversion = None, None, None
        self.update()

    def toggle(self, checked: bool | None = None) -> None:
        self.enabled = (not self.enabled) if checked is None else bool(checked)
        self.update()

    def update(self, _value: object = None) -> None:
        scene = self.view.scene()
        for item in self.items:
            scene.removeItem(item)
        self.items = []
        image = self.state.image
        states = self.states_for(image) if image is not None else []
        self.available.emit(bool(states))
        if image is None or not states or not self.enabled:
            if self.window is not None and image is not None and self.state.window == self.window:
                self.state.window = None if image.is_color else image.default_window
            if self.orientation is not None and self.state.orientation == self.orientation:
                self.state.orientation = Orientation()
            if self.inversion is not None and self.state.inverted == self.inversion:
                self.state.inverted = False
            self.shown, self.window, self.orientation, self.inversion = None, None, None, None
            return
        self.shown = states[-1]  # the newest: a second export of the same image replaces the first
        height, width = image.modality.shape[:2]
        drawing = self.shown.drawing(str(image.metadata.get("sop_instance_uid")), image.frame, (width, height))
        self._draw(drawing)
        if drawing.window is not None and not image.is_color and self.window != drawing.window:
            self.window = drawing.window
            self.state.window = drawing.window  # the reader's window, as the presentation state's author saw it
        turned = spatial(self.shown)
        if turned != Orientation() and self.orientation is None:
            self.orientation = self.state.orientation = turned  # its Spatial Transformation: a flip, quarter turns
        if self.shown.lut_shape is not None and not image.is_color and self.inversion is None:
            # PS3.3 C.11.6: INVERSE shows low values white, whatever the Photometric Interpretation says
            self.inversion = self.state.inverted = (self.shown.lut_shape == "INVERSE") != bool(image.invert)

    def _draw(self, drawing: Drawing) -> None:
        for shape in drawing.shapes:
            colour = QColor(*(shape.colour or DEFAULT_COLOUR))
            if shape.kind == "POINT":
                self._marker(QPointF(*shape.points[0]), colour)
                continue
            path = shape_path(shape)
            for width, pen_colour in ((HALO_PX, HALO), (LINE_PX, colour)):
                item = QGraphicsPathItem(path)
                pen = QPen(pen_colour, width)
                pen.setCosmetic(True)
                pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
                item.setPen(pen)
                if shape.filled and pen_colour is colour:
                    item.setBrush(QBrush(QColor(colour.red(), colour.green(), colour.blue(), 70)))
                self._add(item)
        for label in drawing.labels:
            self._label(label)

    def _marker(self, at: QPointF, colour: QColor, size: float = MARKER_PX) -> None:
        """A cross of fixed screen size at `at` (a POINT, a visible text anchor)."""
        path = QPainterPath()
        path.moveTo(-size, 0)
        path.lineTo(size, 0)
        path.moveTo(0, -size)
        path.lineTo(0, size)
        for width, pen_colour in ((HALO_PX, HALO), (LINE_PX, colour)):
            item = QGraphicsPathItem(path)
            pen = QPen(pen_colour, width)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            item.setPos(at)
            self._add(item)

    def _label(self, label: Label) -> None:
        """Screen-sized text on a dark backing standing on its bounding box's lower edge, at its left, centre or
        right as justified (text grows up, away from what a caption box above an outline labels, however small the
        box is at this zoom), wrapped to the box's width on screen; else with its lower left corner at its
        anchor."""
        colour = QColor(*(label.colour or DEFAULT_COLOUR))
        share = 0.0  # of the label's width left of `at`
        wrap = float(TEXT_WIDTH_PX)
        if label.box is not None:
            x0, y0, x1, y1 = label.box
            share = {"CENTER": 0.5, "RIGHT": 1.0}.get(label.justification, 0.0)
            at = QPointF(min(x0, x1) + share * abs(x1 - x0), max(y0, y1))
            wrap = min(max(abs(x1 - x0) * self.view.zoom, MIN_TEXT_WIDTH_PX), wrap)  # the author's box on screen
        else:
            assert label.anchor is not None  # the reader refuses a text object with neither
            at = QPointF(*label.anchor)
            if label.anchor_visible:
                self._marker(at, colour, MARKER_PX / 2)
        lines = wrapped(label.text, QFontMetricsF(label_font()), wrap)
        backing = text_block([(line, colour) for line in lines], share=share)
        backing.setPos(at)
        self._add(backing)

    def _add(self, item: QGraphicsItem) -> None:
        item.setZValue(Z)
        self.view.scene().addItem(item)
        self.items.append(item)


def spatial(state: PresentationState) -> Orientation:
    """The presentation state's clockwise quarter turns, then its horizontal flip (PS3.3 C.10.6: Image Rotation
    comes before any Image Horizontal Flip), as the viewer's orientation."""
    orientation = Orientation()
    for _ in range(state.rotation // 90):
        orientation = orientation.rotated()
    return orientation.flipped_h() if state.flip else orientation


def wrapped(text: str, metrics: QFontMetricsF, width: float) -> list[str]:
    """`text`'s lines, each broken at spaces to fit `width` (a word longer than that keeps its own line)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [text]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and metrics.horizontalAdvance(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        if line.strip():
            lines.append(line)
    return lines or [text]


def shape_path(shape: Shape) -> QPainterPath:
    """A graphic as a path in the image's pixel grid (scene coordinates: pixel i spans [i, i + 1])."""
    points = [QPointF(float(x), float(y)) for x, y in shape.points]
    path = QPainterPath()
    if shape.kind == "CIRCLE":  # the centre, then a point on the circle
        radius = math.dist(shape.points[0], shape.points[1])
        path.addEllipse(points[0], radius, radius)
    elif shape.kind == "ELLIPSE":  # the major axis' two ends, then the minor axis' two ends
        (a0, a1, b0, b1) = shape.points
        centre = (a0 + a1) / 2
        angle = math.degrees(math.atan2(a1[1] - a0[1], a1[0] - a0[0]))
        path.addEllipse(QPointF(0, 0), math.dist(a0, a1) / 2, math.dist(b0, b1) / 2)
        path = QTransform().translate(float(centre[0]), float(centre[1])).rotate(angle).map(path)
    elif shape.kind == "INTERPOLATED":
        path = _smooth(shape.points)
    else:  # POLYLINE
        path.addPolygon(QPolygonF(points))
        if len(points) > 2 and points[0] == points[-1]:
            path.closeSubpath()
    return path


def _smooth(points: np.ndarray) -> QPainterPath:
    """A Catmull-Rom curve through every point (INTERPOLATED), as cubic Bézier segments."""
    closed = len(points) > 2 and np.array_equal(points[0], points[-1])
    ring = points[:-1] if closed else points
    count = len(ring)
    path = QPainterPath(QPointF(*ring[0]))
    for i in range(count if closed else count - 1):
        p0 = ring[(i - 1) % count] if closed or i > 0 else ring[i]
        p1, p2 = ring[i], ring[(i + 1) % count]
        p3 = ring[(i + 2) % count] if closed or i + 2 < count else p2
        c1, c2 = p1 + (p2 - p0) / 6, p2 - (p3 - p1) / 6
        path.cubicTo(QPointF(*c1), QPointF(*c2), QPointF(*p2))
    if closed:
        path.closeSubpath()
    return path
