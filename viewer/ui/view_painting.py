"""What an ImageView paints over its image, in viewport pixels: the title, the placeholder and the corner text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter

from . import theme

if TYPE_CHECKING:
    from .views import ImageView

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


def paint_foreground(view: ImageView, painter: QPainter) -> None:
    painter.save()
    painter.resetTransform()  # corner text is in viewport pixels, not image pixels
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    area = view.viewport().rect().adjusted(8, 6, -8, -6)
    font = QFont(view.font())
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    painter.setFont(font)
    if not view.has_image() or view.placeholder:
        painter.setPen(QColor(theme.MUTED))
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, view.placeholder or "")
    title = QFont(font)
    title.setBold(True)
    painter.setFont(title)
    _shadowed(painter, area, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, [view.title],
              QColor(theme.MUTED))
    painter.setFont(font)
    if view.show_corner_text and view.has_image():
        _draw_corners(view.corner_text, painter, area.adjusted(0, painter.fontMetrics().height() + 2, 0, 0), area)
    painter.restore()


def _draw_corners(corner_text: dict[str, list[str]], painter: QPainter, top: QRect, bottom: QRect) -> None:
    """Four corner blocks; in a narrow view a right block that would overlap the left one moves aside
    (down at the top, up at the bottom) instead of printing over it."""
    left, right = Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight
    texts = {corner: "\n".join(line for line in corner_text.get(corner, []) if line) for corner in CORNERS}
    metrics = painter.fontMetrics()
    for area, vertical, side in ((top, Qt.AlignmentFlag.AlignTop, 1), (bottom, Qt.AlignmentFlag.AlignBottom, -1)):
        names = ("top_left", "top_right") if side == 1 else ("bottom_left", "bottom_right")
        left_text, right_text = texts[names[0]], texts[names[1]]
        left_box = metrics.boundingRect(area, left | vertical, left_text) if left_text else QRect()
        right_box = metrics.boundingRect(area, right | vertical, right_text) if right_text else QRect()
        right_area = QRect(area)
        if left_text and right_text and left_box.intersects(right_box.adjusted(-12, 0, 0, 0)):
            if side == 1:
                right_area.setTop(left_box.bottom() + 1)
            else:
                right_area.setBottom(left_box.top() - 1)
        colour = QColor("#e8ecef")
        if left_text:
            _shadowed(painter, area, left | vertical, [left_text], colour)
        if right_text:
            _shadowed(painter, right_area, right | vertical, [right_text], colour)


def _shadowed(painter: QPainter, area, flags, lines: list[str], colour: QColor) -> None:
    # A 1-pixel dark shadow keeps text readable over bright lung fields and over the heatmap.
    text = "\n".join(lines)
    painter.setPen(QColor(0, 0, 0, 200))
    painter.drawText(area.translated(1, 1), flags, text)
    painter.setPen(colour)
    painter.drawText(area, flags, text)
