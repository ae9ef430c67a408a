"""The distance ruler and the cardiothoracic ratio, drawn on every panel and taken with the left button of any.

While a tool is armed (D, Ctrl+Shift+C) a left drag measures instead of panning (the middle button still pans);
pressing its key again disarms it. Points are scene points, i.e. the file's pixels, so a measurement stays on the
anatomy through zoom, flips and turns; the labels ignore the view's transform and stay upright. The values live in
`ViewerState.measurements` (viewer.app.measure), which a new image clears.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QLineF, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QMouseEvent, QPen, QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsLineItem, QGraphicsSimpleTextItem

from viewer.app import ViewerState
from viewer.app.measure import Measurement, Span, horizontal, spacing

from .views import ImageView

COLOUR = "#ffd60a"  # the export's measurement yellow (viewer.render.annotate)
MIN_LENGTH = 2.0  # image pixels: a shorter drag is a click, not a measurement
TOOLS = {"ruler": "Ruler: drag across what to measure", "ctr": "CTR: drag the heart's widest span, then the chest's"}


class MeasureTool(QObject):
    armedChanged = Signal(str)  # the tool armed now, "" for none

    def __init__(self, state: ViewerState, views: dict[str, ImageView], parent: QObject | None = None):
        super().__init__(parent)
        self.state, self.views = state, views
        self.tool = ""  # "ruler", "ctr" or ""
        self._start: tuple[ImageView, QPointF] | None = None
        self._preview: Measurement | None = None
        self._items: dict[str, list[QGraphicsItem]] = {name: [] for name in views}
        for view in views.values():
            view.viewport().installEventFilter(self)
        state.connect("measurements", lambda _m: self.draw())
        state.connect("orientation", lambda _o: self.draw())  # labels lean toward the centre as now shown

    def arm(self, tool: str) -> None:
        """Arm `tool`, or disarm it when it is the armed one (its key toggles it)."""
        self.tool = "" if tool == self.tool else tool
        self._start = None
        for view in self.views.values():
            if self.tool:
                view.viewport().setCursor(Qt.CursorShape.CrossCursor)
            else:
                view.viewport().unsetCursor()
        self.armedChanged.emit(self.tool)

    def clear(self) -> None:
        self.state.measurements = ()

    # -- drawing -----------------------------------------------------------------------------------------------

    def draw(self) -> None:
        """Every measurement (and the one being dragged) on every panel, replacing what was drawn."""
        image = self.state.image
        grid = spacing(image.dataset) if image is not None else None
        shown = list(self.state.measurements) + ([self._preview] if self._preview else [])
        for name, view in self.views.items():
            scene = view.scene()
            for item in self._items[name]:
                scene.removeItem(item)
            self._items[name] = [item for m in shown for span, label in zip(m.spans, m.labels(grid), strict=False)
                                 for item in self._span(view, span, label)]
            for item in self._items[name]:
                scene.addItem(item)

    @staticmethod
    def _span(view: ImageView, span: Span, label: str) -> list[QGraphicsItem]:
        x0, y0, x1, y1 = span
        line = QGraphicsLineItem(QLineF(x0, y0, x1, y1))
        pen = QPen(QColor(COLOUR), 2)
        pen.setCosmetic(True)  # the same width at every zoom
        line.setPen(pen)
        text = QGraphicsSimpleTextItem(label)
        font = QFont(text.font())
        font.setPointSizeF(max(font.pointSizeF(), 10.0))
        font.setBold(True)
        text.setFont(font)
        text.setBrush(QBrush(QColor(COLOUR)))
        text.setPen(QPen(QColor(0, 0, 0, 220), 0.6))  # a dark edge reads on bright lung fields and the heatmap
        text.setPos((x0 + x1) / 2, (y0 + y1) / 2)  # at the middle: an end near the panel's edge would cut it
        text.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)  # upright, one size at any zoom
        # Screen pixels, above the middle and toward the image's centre, so a label near an edge stays inside.
        width, height = view.image_size()
        middle, centre = view.mapFromScene(text.pos()), view.mapFromScene(QPointF(width / 2, height / 2))
        box = text.boundingRect()
        aside = 6 if middle.x() <= centre.x() else -box.width() - 6
        text.setTransform(QTransform.fromTranslate(aside, -box.height() - 2))
        for item in (line, text):
            item.setZValue(2.5)
        return [line, text]

    # -- mouse, while armed ------------------------------------------------------------------------------------

    def _span_between(self, start: QPointF, end: QPointF, size: tuple[int, int]) -> Span:
        width, height = size
        x0, x1 = (min(max(p.x(), 0.0), float(width)) for p in (start, end))
        y0, y1 = (min(max(p.y(), 0.0), float(height)) for p in (start, end))
        # A CTR width is horizontal in the file's grid: the patient's transverse axis on a chest film.
        return horizontal(x0, y0, x1) if self.tool == "ctr" else (x0, y0, x1, y1)

    def _with(self, span: Span) -> tuple[Measurement, bool]:
        """The measurement `span` makes, and whether it completes the last (half-drawn) CTR."""
        last = self.state.measurements[-1] if self.state.measurements else None
        if self.tool == "ctr" and last is not None and last.kind == "ctr" and not last.complete():
            return Measurement("ctr", (*last.spans, span)), True
        return Measurement(self.tool, (span,)), False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if not self.tool or not isinstance(event, QMouseEvent):
            return False
        view = next((v for v in self.views.values() if v.viewport() is watched), None)
        if view is None or not view.has_image():
            return False
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            view.activated.emit()
            self._start = (view, view.mapToScene(event.position().toPoint()))
            return True
        if self._start is None or self._start[0] is not view:
            return kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton
        span = self._span_between(self._start[1], view.mapToScene(event.position().toPoint()), view.image_size())
        measurement, completes = self._with(span)
        if kind == QEvent.Type.MouseMove:
            self._preview = Measurement(measurement.kind, measurement.spans[-1:]) if completes else measurement
            self.draw()
            return True
        if kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            self._start, self._preview = None, None
            x0, y0, x1, y1 = span
            if max(abs(x1 - x0), abs(y1 - y0)) < MIN_LENGTH:
                self.draw()
                return True
            kept = self.state.measurements[:-1] if completes else self.state.measurements
            self.state.measurements = (*kept, measurement)
            return True
        return False
