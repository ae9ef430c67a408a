"""The panels turned and flipped as `ViewerState.orientation` says, and the patient-direction letters at the
middle of each edge (viewer.app.orientation.edge_labels; none when the file does not say)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QTransform
from PySide6.QtWidgets import QWidget

from viewer.app.orientation import Orientation

from . import view_painting
from .views import ImageView


def transform(orientation: Orientation) -> QTransform:
    """The orientation's matrix as Qt writes it (x' = m11 x + m21 y, y' = m12 x + m22 y)."""
    a, b, c, d = orientation.matrix
    return QTransform(a, c, b, d, 0, 0)


def turn(view: ImageView, orientation: Orientation) -> None:
    """Turn `view`, keeping its zoom and the image point at its centre (a fitted view fits again)."""
    view.orientation = transform(orientation)
    if view.has_image():
        view.apply_state(view.state())


class EdgeLabels(QWidget):
    """Four letters over a panel's viewport: R/L, H/F, A/P at the middle of each edge."""

    def __init__(self, view: ImageView):
        super().__init__(view.viewport())
        self.view = view
        self.labels: dict[str, str] = {}
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setGeometry(view.viewport().rect())
        view.viewport().installEventFilter(self)

    def set_labels(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Resize:
            self.setGeometry(self.view.viewport().rect())
        return False

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        if not self.labels or not self.view.has_image() or not self.view.show_corner_text:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF(), 10.0) * 1.3)
        font.setBold(True)
        painter.setFont(font)
        # Top and bottom letters inside the bands the corner text keeps clear of the image; sides at mid-height.
        top, bottom = view_painting.text_margins(self.view)
        area = self.rect().adjusted(6, top, -6, -bottom)
        align = Qt.AlignmentFlag
        places = {"top": (area, align.AlignHCenter | align.AlignTop),
                  "bottom": (area, align.AlignHCenter | align.AlignBottom),
                  "left": (area, align.AlignLeft | align.AlignVCenter),
                  "right": (area, align.AlignRight | align.AlignVCenter)}
        for edge, (rect, flags) in places.items():
            text = self.labels.get(edge, "")
            if text:
                self._halo(painter, rect, flags, text)
        painter.end()

    @staticmethod
    def _halo(painter: QPainter, rect: QRect, flags: Qt.AlignmentFlag, text: str) -> None:
        painter.setPen(QColor(0, 0, 0, 220))
        for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):  # a dark rim reads on any grey
            painter.drawText(rect.translated(dx, dy), flags, text)
        painter.setPen(QColor("#f4d35e"))
        painter.drawText(rect, flags, text)
