"""Screen-sized text over an image: lines on a dark backing that keeps its size at every zoom and turn, placed by
its position in the scene (the findings' labels, a presentation state's captions)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsSimpleTextItem

TEXT_PT = 10
BACKING = QColor(0, 0, 0, 170)


def label_font() -> QFont:
    font = QFont()
    font.setPointSize(TEXT_PT)
    return font


def text_block(lines: Sequence[tuple[str, QColor]], *, above: bool = True, share: float = 0.0) -> QGraphicsRectItem:
    """`lines` (text, colour) on a backing whose lower edge (`above`: the text grows up) or upper edge is at the
    item's position, `share` of its width left of it; the caller sets the position and adds it to a scene."""
    font = label_font()
    texts, y = [], 0.0
    for text, colour in lines:
        item = QGraphicsSimpleTextItem(text)
        item.setFont(font)
        item.setBrush(QBrush(colour))
        texts.append((item, y))
        y += item.boundingRect().height()
    width = max(item.boundingRect().width() for item, _ in texts) + 8
    backing = QGraphicsRectItem(QRectF(-share * width, -(y + 4) if above else 0, width, y + 4))
    backing.setBrush(QBrush(BACKING))
    backing.setPen(QPen(Qt.PenStyle.NoPen))
    backing.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
    top = -(y + 2) if above else 2
    for item, offset in texts:
        item.setParentItem(backing)
        item.setPos(4 - share * width, top + offset)
    return backing
