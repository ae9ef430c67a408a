"""Image views: zoom (wheel, keys), pan (left/middle drag), window/level (right drag) and corner text
(painted by viewer.ui.view_painting). ViewGroup (viewer.ui.view_group, re-exported here) keeps the Original,
Heatmap and Overlay views on the same zoom and the same spot of the image.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from . import theme, view_painting
from .view_group import ViewGroup, window_after_drag

__all__ = ["ImageView", "ViewGroup", "to_qimage", "window_after_drag"]

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
CONTOUR_WIDTH = 2  # screen pixels at every zoom


def to_qimage(pixels: np.ndarray) -> QImage:
    """uint8 (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA as a QImage that owns its memory."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    fmt = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888,
           4: QImage.Format.Format_RGBA8888}[channels]
    image = QImage(pixels.data, width, height, pixels.strides[0], fmt)
    return image.copy()  # QImage does not keep the numpy buffer alive


class ImageView(QGraphicsView):
    """One panel. It emits user intent (view moved, window dragged); the window decides what follows."""

    viewChanged = Signal()  # the user zoomed or panned this view
    zoomChanged = Signal()  # the scale changed, by the user or not (fit, 1:1, a resize, a layout change)
    windowDragged = Signal(float, float)  # right-drag since the last event: dx (width), dy (centre), in pixels
    activated = Signal()  # the user clicked into this view (keyboard zoom acts on it)
    boxDrawn = Signal(tuple)  # Shift+left drag: (x, y, width, height) in image pixels, inside the image

    def __init__(self, title: str, windowing: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self.windowing = windowing
        self.placeholder = ""
        self.corner_text: dict[str, list[str]] = {}
        self.show_corner_text = True
        self.fit_mode = True
        self._drag: tuple[Qt.MouseButton, QPoint] | None = None
        self._box_start: QPointF | None = None
        self._pixmap = QGraphicsPixmapItem()
        self._pixmap.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._scene = QGraphicsScene(self)
        self._scene.addItem(self._pixmap)
        self._box = QGraphicsRectItem()
        pen = QPen(QColor(theme.POSITIVE), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)  # the same width at every zoom
        self._box.setPen(pen)
        self._box.setZValue(1)
        self._box.hide()
        self._scene.addItem(self._box)
        # The map's outline as a vector path over the image: a cosmetic pen keeps its width in screen pixels,
        # where a contour burned into the pixels grew with the zoom into staircase edges.
        self.contour = QGraphicsPathItem()
        self.contour.setZValue(0.5)
        self._scene.addItem(self.contour)
        self.set_contour_colour((255, 255, 0))
        self._scale = 0.0
        self.orientation = QTransform()  # flips and quarter turns (viewer.ui.orientation_view sets it)
        self._margins = (8, 8)
        self._refitting = False
        self.setScene(self._scene)
        self.setBackgroundBrush(QColor(theme.BACKGROUND))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        # Corner text is painted over the scene; a full update keeps it from smearing while panning.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setMinimumSize(120, 120)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)  # right drag is window/level

    # -- content --------------------------------------------------------------------------------------------

    def has_image(self) -> bool:
        return not self._pixmap.pixmap().isNull()

    def image_size(self) -> tuple[int, int]:
        pixmap = self._pixmap.pixmap()
        return pixmap.width(), pixmap.height()

    def qimage(self) -> QImage:
        return self._pixmap.pixmap().toImage()

    def set_pixels(self, pixels: np.ndarray | None) -> None:
        """Show `pixels`; a new size fits the view, the same size keeps zoom and pan (window/level, sliders)."""
        if pixels is None:
            self._pixmap.setPixmap(QPixmap())
            self.viewport().update()
            return
        new_size = (pixels.shape[1], pixels.shape[0])
        resized = new_size != self.image_size()
        self._pixmap.setPixmap(QPixmap.fromImage(to_qimage(pixels)))
        if resized:
            width, height = new_size
            # A wide scene lets the image be panned past its edges, as in any PACS viewer.
            self._scene.setSceneRect(QRectF(-4 * width, -4 * height, 9 * width, 9 * height))
            self.fit()
        self.viewport().update()

    def set_box(self, box: tuple[int, int, int, int] | None) -> None:
        """Show the region of interest (image pixels) the pointing game is scored on; None hides it."""
        if box is None:
            self._box.hide()
        else:
            self._box.setRect(QRectF(*box))
            self._box.show()

    def set_contours(self, polygons: list[np.ndarray]) -> None:
        """Outline these polygons ((N, 2) x, y in image pixels); an empty list clears the outline."""
        path = QPainterPath()
        for polygon in polygons:
            path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in polygon]))
            path.closeSubpath()
        self.contour.setPath(path)

    def set_contour_colour(self, rgb: tuple[int, int, int]) -> None:
        pen = QPen(QColor(*rgb), CONTOUR_WIDTH)
        pen.setCosmetic(True)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        self.contour.setPen(pen)

    def box(self) -> tuple[int, int, int, int] | None:
        if not self._box.isVisible():
            return None
        rect = self._box.rect()
        return int(rect.x()), int(rect.y()), int(rect.width()), int(rect.height())

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.viewport().update()

    def set_corner_text(self, corners: dict[str, list[str]]) -> None:
        self.corner_text = corners
        self._text_changed()

    def set_corner_text_visible(self, visible: bool) -> None:
        self.show_corner_text = visible
        self._text_changed()

    def _text_changed(self) -> None:
        """At fit the image keeps clear of the text: bands that grew or shrank fit it again."""
        if self.fit_mode and self.has_image() and not self._refitting and \
                view_painting.text_margins(self) != self._margins:
            # Fitting changes the zoom figure, which can change the text: one refit, never a loop of them.
            self._refitting = True
            try:
                self.fit()
            finally:
                self._refitting = False
        self.viewport().update()

    # -- zoom and pan ---------------------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        t = self.transform()
        return float(np.hypot(t.m11(), t.m12()))  # turned by `orientation`, m11 is 0 or negative

    def fit(self) -> None:
        if not self.has_image():
            return
        self.fit_mode = True
        width, height = self.image_size()
        # Equal bands above and below for the corner text keep the image centred and never under the text.
        self._margins = view_painting.text_margins(self)
        band = min(max(self._margins), self.viewport().height() // 3)  # a tiny view still shows the image
        area = self.viewport().rect().adjusted(8, band, -8, -band)
        across, down = (height, width) if self.orientation.m12() else (width, height)  # a quarter turn swaps them
        scale = min(area.width() / across, area.height() / down) if width and height else 1.0
        self._set(max(scale, 1e-3), QPointF(width / 2, height / 2))

    def actual_size(self) -> None:
        self.fit_mode = False
        self._set(1.0, self.centre())

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom by `factor`, keeping the image point under `anchor` (viewport pixels) where it is."""
        if not self.has_image():
            return
        self.fit_mode = False
        anchor = anchor if anchor is not None else self.viewport().rect().center()
        before = self.mapToScene(anchor)
        scale = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM)
        centre = self.centre()
        # Keep `before` under the anchor: the centre moves toward it by the zoom ratio.
        ratio = self.zoom / scale
        self._set(scale, before + (centre - before) * ratio)

    def centre(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def state(self) -> tuple[float, QPointF, bool]:
        return self.zoom, self.centre(), self.fit_mode

    def apply_state(self, state: tuple[float, QPointF, bool]) -> None:
        """Follow another view: same zoom and image point at the centre (fit stays fit for this view's size)."""
        scale, centre, fit_mode = state
        if fit_mode:
            self.fit()
        else:
            self.fit_mode = False
            self._set(scale, centre)

    def _set(self, scale: float, centre: QPointF) -> None:
        self.setTransform(self.orientation * QTransform.fromScale(scale, scale))
        self.centerOn(centre)
        # centerOn can land a few pixels off (integer scroll positions, odd viewport sizes); nudging the
        # scroll bars by the remaining error keeps synchronised views on the same image point.
        error = self.transform().map(centre) - self.transform().map(self.centre())
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(error.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(error.y()))
        self.viewport().update()
        if scale != self._scale:
            self._scale = scale
            self.zoomChanged.emit()

    def _pan(self, delta: QPoint) -> None:
        self.fit_mode = False
        self._set(self.zoom, self.centre() - self.orientation.inverted()[0].map(QPointF(delta)) / self.zoom)

    # -- events ---------------------------------------------------------------------------------------------

    def resizeEvent(self, event) -> None:
        centre = self.centre()
        super().resizeEvent(event)
        if self.fit_mode:
            self.fit()
        else:
            self.centerOn(centre)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(ZOOM_STEP ** steps, event.position().toPoint())
            self.viewChanged.emit()
        event.accept()

    def mousePressEvent(self, event) -> None:
        self.activated.emit()
        button = event.button()
        if (button == Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
                and self.has_image()):
            self._box_start = self.mapToScene(event.position().toPoint())
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
            event.accept()
            return
        if button == Qt.MouseButton.RightButton and not self.windowing:
            button = Qt.MouseButton.LeftButton  # the heatmap has no window: any drag pans it
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._drag = (button, event.position().toPoint())
            cursor = Qt.CursorShape.SizeAllCursor if button == Qt.MouseButton.RightButton \
                else Qt.CursorShape.ClosedHandCursor
            self.viewport().setCursor(cursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._box_start is not None:
            self.set_box(self._image_box(self._box_start, self.mapToScene(event.position().toPoint())))
            event.accept()
            return
        if self._drag is None:
            return super().mouseMoveEvent(event)
        button, last = self._drag
        position = event.position().toPoint()
        delta = position - last
        self._drag = (button, position)
        if button == Qt.MouseButton.RightButton:
            self.windowDragged.emit(float(delta.x()), float(delta.y()))
        elif self.has_image():
            self._pan(delta)
            self.viewChanged.emit()
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if self._box_start is not None:
            box = self._image_box(self._box_start, self.mapToScene(event.position().toPoint()))
            self._box_start = None
            self.viewport().unsetCursor()
            if box[2] >= 2 and box[3] >= 2:  # a click is not a box
                self.boxDrawn.emit(box)
            else:
                self.set_box(None)
            event.accept()
            return
        if self._drag is not None:
            self._drag = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _image_box(self, start: QPointF, end: QPointF) -> tuple[int, int, int, int]:
        """The rectangle between two scene points, clipped to the image, in whole pixels."""
        width, height = self.image_size()
        x0, x1 = sorted(min(max(v, 0.0), float(width)) for v in (start.x(), end.x()))
        y0, y1 = sorted(min(max(v, 0.0), float(height)) for v in (start.y(), end.y()))
        return int(x0), int(y0), int(round(x1 - int(x0))), int(round(y1 - int(y0)))

    def mouseDoubleClickEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.fit()
            self.viewChanged.emit()
        event.accept()

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        view_painting.paint_foreground(self, painter)
