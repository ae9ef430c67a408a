"""The magnifier: a circle following the pointer over any panel, showing the scene under it three times larger.

It is a child widget of each panel's viewport that ignores the mouse; it renders the panel's scene (image, contours,
boxes, measurements) turned as the panel is, so what is under the pointer is what the circle shows.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from .views import ImageView

DIAMETER = 220  # screen pixels
MAGNIFICATION = 3.0


class Loupe(QWidget):
    def __init__(self, view: ImageView):
        super().__init__(view.viewport())
        self.view = view
        self.enabled = False
        self._at = QPoint()
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.resize(DIAMETER, DIAMETER)
        self.hide()
        view.viewport().setMouseTracking(True)  # moves without a button pressed
        view.viewport().installEventFilter(self)

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        if not enabled:
            self.hide()
        elif self.view.viewport().underMouse():
            self._follow(self.view.viewport().mapFromGlobal(self.cursor().pos()))

    def _follow(self, at: QPoint) -> None:
        self._at = at
        self.move(at - QPoint(DIAMETER // 2, DIAMETER // 2))
        self.setVisible(self.view.has_image())
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if self.enabled and watched is self.view.viewport():
            if event.type() == QEvent.Type.MouseMove:
                self._follow(event.position().toPoint())  # type: ignore[attr-defined]
            elif event.type() == QEvent.Type.Leave:
                self.hide()
        return False  # the panel still pans, windows and measures as usual

    def source(self) -> QRectF:
        """The scene (image pixels) the circle shows: a square around the point under the pointer."""
        centre = self.view.mapToScene(self._at)
        side = DIAMETER / MAGNIFICATION / max(self.view.zoom, 1e-6)
        return QRectF(centre.x() - side / 2, centre.y() - side / 2, side, side)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        circle = QPainterPath()
        circle.addEllipse(QRectF(1, 1, DIAMETER - 2, DIAMETER - 2))
        painter.fillPath(circle, QColor(0, 0, 0))
        painter.setClipPath(circle)
        # Turned and flipped as the panel is: the orientation about the circle's centre, then the scene.
        centre = QPointF(DIAMETER / 2, DIAMETER / 2)
        painter.translate(centre)
        painter.setTransform(self.view.orientation, combine=True)
        painter.translate(-centre)
        self.view.scene().render(painter, QRectF(0, 0, DIAMETER, DIAMETER), self.source(),
                                 Qt.AspectRatioMode.IgnoreAspectRatio)
        painter.resetTransform()
        painter.setClipping(False)
        painter.setPen(QPen(QColor(255, 255, 255, 200), 2))
        painter.drawEllipse(QRectF(1, 1, DIAMETER - 2, DIAMETER - 2))
        painter.end()
