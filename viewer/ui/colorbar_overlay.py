"""The colour bar painted over the heatmap panel's right edge: the colour map's 0–1 scale, with the CAM threshold
marked and named, so a reader knows what a colour means and where the overlay turns transparent. Its colours come
from the table the exports burn in (viewer.render.colormaps)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

from viewer.app import ViewerState
from viewer.render import CAM_THRESHOLD_LABEL, DEFAULTS, ColorMap, colormap_lut

from . import theme

MARGIN = 8  # from the view's edges, clear of the scroll bars' corner
BAR_WIDTH = 14


class ColorBarOverlay(QWidget):
    """A child of the heatmap view, above the image, transparent to the mouse; shown while a map is on screen."""

    def __init__(self, view: QWidget):
        super().__init__(view)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setObjectName("colorbar")
        self.colormap: ColorMap = DEFAULTS.colormap
        self.cam_threshold = DEFAULTS.cam_threshold
        self._ramp = QImage()
        self.setToolTip("")
        view.installEventFilter(self)
        self.hide()

    @classmethod
    def attach(cls, view: QWidget, state: ViewerState) -> ColorBarOverlay:
        """Follow `state`: the style's colour map and CAM threshold, visible while an explanation is shown."""
        bar = cls(view)
        bar.set_style(state.style.colormap, state.style.threshold)
        state.connect("style", lambda style: bar.set_style(style.colormap, style.threshold))
        state.connect("explanation", lambda explanation: bar.setVisible(explanation is not None))
        return bar

    def set_style(self, colormap: ColorMap, cam_threshold: float) -> None:
        if self._ramp.isNull() or colormap != self.colormap:
            lut = np.ascontiguousarray(colormap_lut(colormap)[::-1].reshape(256, 1, 3))  # 1 at the top
            self._ramp = QImage(lut.data, 1, 256, 3, QImage.Format.Format_RGB888).copy()
        self.colormap, self.cam_threshold = colormap, float(cam_threshold)
        self._place()
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        view = self.parentWidget()
        if view is None:
            return
        metrics = self.fontMetrics()
        width = metrics.horizontalAdvance(CAM_THRESHOLD_LABEL) + 6 + BAR_WIDTH + 4
        height = min(max(120, view.height() // 2), 360)
        # Against the right edge (where a fitted chest film leaves its dark band), clear of the scroll bar.
        self.setGeometry(view.width() - width - MARGIN - 12, max(MARGIN, (view.height() - height) // 2), width,
                         height)
        self.raise_()

    def bar_rect(self) -> QRect:
        """Where the ramp is drawn: value 1 at its top row, 0 at its bottom row."""
        text = self.fontMetrics().height()
        return QRect(self.width() - BAR_WIDTH - 4, text, BAR_WIDTH, self.height() - 2 * text)

    def y_of(self, value: float) -> int:
        bar = self.bar_rect()
        return round(bar.bottom() - min(max(value, 0.0), 1.0) * (bar.height() - 1))

    def paintEvent(self, _event) -> None:
        # No backing box: only the bar and haloed labels cover the image.
        painter = QPainter(self)
        bar = self.bar_rect()
        painter.fillRect(bar.adjusted(-1, -1, 1, 1), QColor(0, 0, 0))
        painter.drawImage(bar, self._ramp)
        metrics = self.fontMetrics()
        right = bar.left() - 6  # labels end here, right-aligned
        half = metrics.ascent() // 2
        marked = self.y_of(self.cam_threshold)
        for value, text in ((1.0, "1"), (0.5, "0.5"), (0.0, "0")):
            y = self.y_of(value)
            _halo_line(painter, bar.left() - 4, y, bar.left() - 1, y, 1)
            if abs(y - marked) > 2 * metrics.height():  # the threshold's two lines win a collision
                _halo_text(painter, right - metrics.horizontalAdvance(text), y + half, text)
        _halo_line(painter, bar.left() - 4, marked, bar.right() + 2, marked, 2)
        number = f"{self.cam_threshold:.2f}"
        _halo_text(painter, right - metrics.horizontalAdvance(CAM_THRESHOLD_LABEL), marked - 1, CAM_THRESHOLD_LABEL)
        _halo_text(painter, right - metrics.horizontalAdvance(number), marked + metrics.ascent(), number)
        painter.end()


def _halo_text(painter: QPainter, x: int, y: int, text: str) -> None:
    painter.setPen(QColor(0, 0, 0))
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)):
        painter.drawText(x + dx, y + dy, text)
    painter.setPen(QColor(theme.TEXT))
    painter.drawText(x, y, text)


def _halo_line(painter: QPainter, x0: int, y0: int, x1: int, y1: int, width: int) -> None:
    painter.setPen(QPen(QColor(0, 0, 0), width + 2))
    painter.drawLine(x0, y0, x1, y1)
    painter.setPen(QPen(QColor(255, 255, 255), width))
    painter.drawLine(x0, y0, x1, y1)
