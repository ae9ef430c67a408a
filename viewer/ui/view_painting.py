"""What an ImageView paints over its image, in viewport pixels: the title, the placeholder and the corner text.

Each text block sits on a translucent dark backing and each line has a dark halo, so it reads on a white lung
field, a black background and the heatmap alike. Lines too long for the view are elided with "…". The view
reserves bands above and below the image at fit (text_margins) so the text never covers the fitted image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen

from . import theme

if TYPE_CHECKING:
    from .views import ImageView

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
MARGIN_X, MARGIN_Y = 8, 6  # from the viewport's edges to the text
PAD = 3  # the backing's margin around its text
GAP = 12  # the least room between a left and a right block on the same row
MIN_SHARE = 70  # narrower than this, a corner block goes on its own rows
TEXT = QColor("#f2f4f5")
HALO = QColor(0, 0, 0, 230)
BACKING = QColor(0, 0, 0, 150)


@dataclass(frozen=True)
class Block:
    rect: QRect  # the text's own box, in viewport pixels
    align: Qt.AlignmentFlag  # left, right or centred lines
    lines: tuple[str, ...]
    bold: bool = False


def fonts(view: ImageView) -> tuple[QFont, QFont]:
    """The corner text font (at least 10 pt) and the title's bold one."""
    font = QFont(view.font())
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    title = QFont(font)
    title.setBold(True)
    return font, title


def blocks(view: ImageView) -> list[Block]:
    """The title and the four corner blocks as they will be painted (empty blocks left out)."""
    font, title_font = fonts(view)
    metrics, title_metrics = QFontMetrics(font, view.viewport()), QFontMetrics(title_font, view.viewport())
    area = view.viewport().rect().adjusted(MARGIN_X + PAD, MARGIN_Y + PAD, -MARGIN_X - PAD, -MARGIN_Y - PAD)
    width = max(area.width(), 10)
    title = title_metrics.elidedText(view.title, Qt.TextElideMode.ElideRight, width)
    title_height = title_metrics.height()
    found = [Block(QRect(area.left(), area.top(), width, title_height), Qt.AlignmentFlag.AlignHCenter, (title,),
                   True)] if title else []
    if not (view.show_corner_text and view.has_image()):
        return found
    top = area.top() + (title_height + 2 * PAD + 2 if title else 0)
    bottom = area.bottom()
    line = metrics.height()
    for names, at_top in ((("top_left", "top_right"), True), (("bottom_left", "bottom_right"), False)):
        raw = [[text for text in view.corner_text.get(name, []) if text] for name in names]
        natural = [max((metrics.horizontalAdvance(text) for text in lines), default=0) for lines in raw]
        allotted = share(natural[0], natural[1], width)
        # With too little room for both side by side, the right block moves aside (down at the top, up at the
        # bottom) and both get the whole width.
        stacked = allotted is None
        texts = [tuple(metrics.elidedText(text, Qt.TextElideMode.ElideRight, width if allotted is None else room)
                       for text in lines) for lines, room in zip(raw, allotted or (width, width), strict=True)]
        widths = [max((metrics.horizontalAdvance(text) for text in lines), default=0) for lines in texts]
        offset = 0
        sides = (Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight)
        for lines, text_width, align in zip(texts, widths, sides, strict=True):
            if not lines:
                continue
            height = line * len(lines)
            x = area.left() if align == Qt.AlignmentFlag.AlignLeft else area.right() + 1 - text_width
            y = top + offset if at_top else bottom + 1 - height - offset
            found.append(Block(QRect(x, y, text_width, height), align, lines))
            if stacked:
                offset += height + 2 * PAD
    return found


def share(left: int, right: int, width: int) -> tuple[int, int] | None:
    """The widths a left and a right block on one row get (the longer one elided), or None when one of them
    would be left under MIN_SHARE: then they are stacked."""
    room = width - GAP
    if not (left and right) or left + right <= room:
        return width, width
    if right <= room // 2:
        left = room - right
    elif left <= room // 2:
        right = room - left
    else:
        left = right = room // 2
    return (left, right) if min(left, right) >= MIN_SHARE else None


def text_margins(view: ImageView) -> tuple[int, int]:
    """How far the text reaches into the view from the top and from the bottom, backing included."""
    height = view.viewport().height()
    top, bottom = MARGIN_X, MARGIN_X
    for block in blocks(view):
        box = block.rect.adjusted(-PAD, -PAD, PAD, PAD)
        if block.rect.center().y() < height / 2:
            top = max(top, box.bottom() + 3)
        else:
            bottom = max(bottom, height - box.top() + 2)
    return top, bottom


def paint_foreground(view: ImageView, painter: QPainter) -> None:
    painter.save()
    painter.resetTransform()  # corner text is in viewport pixels, not image pixels
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    font, title_font = fonts(view)
    if not view.has_image() or view.placeholder:
        painter.setFont(font)
        painter.setPen(QColor(theme.MUTED))
        painter.drawText(view.viewport().rect().adjusted(MARGIN_X, MARGIN_Y, -MARGIN_X, -MARGIN_Y),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, view.placeholder or "")
    for block in blocks(view):
        paint_block(painter, block, title_font if block.bold else font,
                    QColor(theme.MUTED) if block.bold else TEXT, backing=view.has_image())
    painter.restore()


def paint_block(painter: QPainter, block: Block, font: QFont, colour: QColor, backing: bool = True) -> None:
    """The block's lines in `colour` with a dark halo, on a translucent backing."""
    if backing:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(BACKING)
        painter.drawRoundedRect(QRectF(block.rect.adjusted(-PAD, -PAD + 1, PAD, PAD - 1)), 3, 3)
    metrics = QFontMetrics(font, painter.device())
    path = QPainterPath()
    for number, line in enumerate(block.lines):
        advance = metrics.horizontalAdvance(line)
        x: float
        if block.align == Qt.AlignmentFlag.AlignRight:
            x = block.rect.right() + 1 - advance
        elif block.align == Qt.AlignmentFlag.AlignHCenter:
            x = block.rect.left() + (block.rect.width() - advance) / 2
        else:
            x = block.rect.left()
        path.addText(QPointF(x, block.rect.top() + number * metrics.height() + metrics.ascent()), font, line)
    painter.strokePath(path, QPen(HALO, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                                  Qt.PenJoinStyle.RoundJoin))
    painter.fillPath(path, colour)
