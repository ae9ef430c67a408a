"""The reader's marks: where a finding is, drawn as a box (drag) or a point (click) on any image panel, in image
pixels, and shown on every panel.

Mark mode (B) takes the left button of all panels until the mark is made or Esc is pressed; outside it, the
panels pan and zoom as usual. Done with an event filter on the panels' viewports, so ImageView stays as it is.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPen
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
)

from viewer.app.review import Mark

from . import theme
from .views import ImageView

MARK_COLOUR = "#5fd3e0"  # cyan: apart from the pointing box's orange and the heatmap's colours
SELECTED_WIDTH, OTHER_WIDTH = 3, 1.5
POINT_RADIUS = 7  # screen pixels: a point stays visible at every zoom
CLICK = 2.0  # a drag shorter than this (image pixels, either side) is a click: a point


def mark_from(start: QPointF, end: QPointF, size: tuple[int, int]) -> Mark:
    """The box between two image points clipped to the image, or a point when they (nearly) coincide."""
    width, height = size
    x0, x1 = sorted(min(max(v, 0.0), float(width)) for v in (start.x(), end.x()))
    y0, y1 = sorted(min(max(v, 0.0), float(height)) for v in (start.y(), end.y()))
    if x1 - x0 < CLICK and y1 - y0 < CLICK:
        return Mark(round(min(max(start.x(), 0.0), float(width)), 1), round(min(max(start.y(), 0.0), float(height)), 1))
    return Mark(round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1))


class MarkTool(QObject):
    marked = Signal(str, object)  # label, Mark
    armedChanged = Signal(bool)

    def __init__(self, views: dict[str, ImageView], parent: QObject | None = None):
        super().__init__(parent)
        self.views = views
        self.label: str | None = None  # armed for this finding
        self._start: tuple[ImageView, QPointF] | None = None
        self._items: dict[str, list[QGraphicsItem]] = {name: [] for name in views}
        self._preview: dict[str, QGraphicsRectItem] = {}
        for name, view in views.items():
            view.viewport().installEventFilter(self)
            preview = QGraphicsRectItem()
            pen = QPen(QColor(MARK_COLOUR), 2, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            preview.setPen(pen)
            preview.setZValue(3)
            preview.hide()
            view.scene().addItem(preview)
            self._preview[name] = preview

    @property
    def armed(self) -> bool:
        return self.label is not None

    def arm(self, label: str) -> None:
        self.label = label
        for view in self.views.values():
            view.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self.armedChanged.emit(True)

    def disarm(self) -> None:
        self.label, self._start = None, None
        for name, view in self.views.items():
            view.viewport().unsetCursor()
            self._preview[name].hide()
        self.armedChanged.emit(False)

    def show(self, marks: list[tuple[str, Mark, bool]]) -> None:
        """Draw (label, mark, selected) on every panel, replacing what was drawn."""
        for name, view in self.views.items():
            scene = view.scene()
            for item in self._items[name]:
                scene.removeItem(item)
            self._items[name] = [item for label, mark, selected in marks for item in self._draw(label, mark, selected)]
            for item in self._items[name]:
                scene.addItem(item)

    @staticmethod
    def _draw(label: str, mark: Mark, selected: bool) -> list[QGraphicsItem]:
        pen = QPen(QColor(MARK_COLOUR if selected else theme.MUTED), SELECTED_WIDTH if selected else OTHER_WIDTH)
        pen.setCosmetic(True)
        shape: QGraphicsItem
        if mark.kind == "box":
            box = QGraphicsRectItem(QRectF(mark.x, mark.y, mark.w, mark.h))
            box.setPen(pen)
            shape = box
        else:  # a ring of a fixed screen size around the point
            ring = QGraphicsEllipseItem(-POINT_RADIUS, -POINT_RADIUS, 2 * POINT_RADIUS, 2 * POINT_RADIUS)
            ring.setPen(pen)
            ring.setPos(mark.x, mark.y)
            ring.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            shape = ring
        text = QGraphicsSimpleTextItem(label)
        text.setBrush(QColor(MARK_COLOUR if selected else theme.MUTED))
        text.setPos(mark.x, mark.y)
        text.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        for item in (shape, text):
            item.setZValue(2)
        return [shape, text]

    # -- mouse, while armed ------------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if self.label is None or not isinstance(event, QMouseEvent):
            return False
        view = next((v for v in self.views.values() if v.viewport() is watched), None)
        if view is None or not view.has_image():
            return False
        point = view.mapToScene(event.position().toPoint())
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            self._start = (view, point)
            return True
        if self._start is None or self._start[0] is not view:
            return kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease)
        mark = mark_from(self._start[1], point, view.image_size())
        if kind == QEvent.Type.MouseMove:
            for preview in self._preview.values():
                preview.setRect(QRectF(mark.x, mark.y, mark.w, mark.h))
                preview.setVisible(mark.kind == "box")
            return True
        if kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            label = self.label
            self.disarm()
            self.marked.emit(label, mark)
            return True
        return False
