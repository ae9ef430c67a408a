"""All findings on screen: each finding's outline as a vector path in its Okabe-Ito colour (a cosmetic pen: the same
width in screen pixels at every zoom), its 'label score' beside it and a legend, both in screen-sized text.

Exports burn the same drawing into pixels (viewer.render.findings); on screen, burned-in labels shrank to a few
pixels at fit on a 2k film. The one map's own contour (the view's `contour`) is hidden while the mode is on.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem

from viewer.app import ViewerState, findings as all_findings
from viewer.render.contours import contour_polygons
from viewer.render.findings import HALO, NO_FINDING, finding_colour

from .scene_text import text_block
from .views import ImageView

LINE_PX = 2.5
HALO_PX = 5.0


class FindingsLayer:
    def __init__(self, state: ViewerState, view: ImageView) -> None:
        self.state, self.view = state, view
        self.items: list[QGraphicsItem] = []
        self.labels: list[tuple[QGraphicsRectItem, QPointF]] = []  # each finding's label and its outline's corner
        self.legend: QGraphicsRectItem | None = None
        for name in ("all_findings", "findings", "explanation", "style", "image"):
            state.connect(name, self.update)
        # After the view has turned: the tools controller, which turns it, is connected after this layer.
        state.connect("orientation", lambda _o: QTimer.singleShot(0, self.relayout))
        view.zoomChanged.connect(self.relayout)  # labels keep their screen size: their spacing in the image changes

    def update(self, _value: object = None) -> None:
        scene = self.view.scene()
        for item in self.items:
            scene.removeItem(item)
        self.items, self.labels, self.legend = [], [], None
        self.view.contour.setVisible(not self.state.all_findings)
        shown = all_findings.on_screen(self.state)
        if shown is None:
            return
        threshold = self.state.style.threshold
        legend = []
        for rank, (label, score, cam) in enumerate(all_findings.items(shown.findings)):
            colour = QColor(*finding_colour(rank))
            legend.append((f"{label} {score:.2f}", colour))
            polygons = contour_polygons(cam, threshold)
            if not polygons:
                continue
            path = QPainterPath()
            for polygon in polygons:
                path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in polygon]))
                path.closeSubpath()
            for width, pen_colour, z in ((HALO_PX, QColor(*HALO), 0.6), (LINE_PX, colour, 0.7)):
                item = QGraphicsPathItem(path)
                pen = QPen(pen_colour, width)
                pen.setCosmetic(True)
                pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
                item.setPen(pen)
                item.setZValue(z)
                self._add(item)
            largest = max(polygons, key=len)
            anchor = QPointF(float(largest[:, 0].min()), float(largest[:, 1].min()))
            self.labels.append((self._text([(f"{label} {score:.2f}", colour)], anchor, above=True), anchor))
        legend.append((f"contour: CAM ≥ {threshold:.2f}" if legend else NO_FINDING, QColor(255, 255, 255)))
        self.legend = self._text(legend, QPointF(0.0, 0.0), above=True)
        self.relayout()

    def relayout(self) -> None:
        """Each label at its outline's corner, moved down past those placed before it at the current zoom."""
        if self.legend is not None:
            self.legend.setPos(self._bottom_left())
        placed: list[QRectF] = []
        for backing, anchor in self.labels:
            backing.setPos(anchor)
            self._place(backing, placed)

    def _bottom_left(self) -> QPointF:
        """The image corner shown at the lower left of the panel: a flip or a turn moves the file's (0, height) to
        another corner, and a legend anchored there was cut off at the panel's edge."""
        width, height = self.view.image_size()
        corners = [QPointF(x, y) for x in (0.0, float(width)) for y in (0.0, float(height))]
        screen = [(self.view.mapFromScene(c.x(), c.y()), c) for c in corners]
        return min(screen, key=lambda pair: (pair[0].x(), -pair[0].y()))[1]

    def _place(self, backing: QGraphicsRectItem, placed: list[QRectF]) -> None:
        """Move a label down the screen past the labels already placed (two findings' outlines often start
        together). In screen pixels: after a turn, the image's "down" runs across the screen and they overlapped."""
        at = self.view.mapFromScene(backing.pos())
        rect = backing.rect()
        box = QRectF(at.x(), at.y() + rect.y(), rect.width(), rect.height())
        while any(box.intersects(other) for other in placed):
            box.translate(0, box.height())
        backing.setPos(self.view.mapToScene(round(box.x()), round(box.y() - rect.y())))
        placed.append(box)

    def _text(self, lines: list[tuple[str, QColor]], anchor: QPointF, above: bool) -> QGraphicsRectItem:
        """Screen-sized lines on a dark backing whose lower left corner is at `anchor` (scene coordinates)."""
        backing = text_block(lines, above=above)
        backing.setZValue(0.8)
        backing.setPos(anchor)
        self._add(backing)
        return backing

    def _add(self, item: QGraphicsItem) -> None:
        self.view.scene().addItem(item)
        self.items.append(item)
