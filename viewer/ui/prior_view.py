"""The "compare with prior" layout: the current and the prior image side by side, each with its own overlay and
window, zoom and pan shared, and the model's score change above them.

The widget knows nothing of the window or the worklist: viewer.ui.prior_controller fills it.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .views import ImageView, ViewGroup


class PairedViews(ViewGroup):
    """A ViewGroup for two different images: the follower shows the same part of its own image (same share of the
    width on screen, same relative point at the centre), since a prior is often taken on another detector with
    another pixel count. Equal sizes behave exactly as ViewGroup."""

    def follow(self, leader: ImageView) -> None:
        if self._following:
            return
        self._following = True
        try:
            scale, centre, fit_mode = leader.state()
            lead_w, lead_h = leader.image_size()
            for view in self.views:
                if view is leader or not view.has_image():
                    continue
                width, height = view.image_size()
                if (width, height) == (lead_w, lead_h) or not (lead_w and lead_h and width and height):
                    view.apply_state((scale, centre, fit_mode))
                else:
                    view.apply_state((scale * lead_w / width,
                                      QPointF(centre.x() * width / lead_w, centre.y() * height / lead_h), fit_mode))
        finally:
            self._following = False


class PriorView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.current = ImageView("Current", windowing=True)
        self.prior = ImageView("Prior", windowing=True)
        for view in (self.current, self.prior):
            view.setAcceptDrops(False)  # drops go to the window
        self.group = PairedViews([self.current, self.prior])
        self.changes = QLabel()
        self.changes.setObjectName("priorChanges")
        self.changes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.changes.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        row.addWidget(self.current, 1)
        row.addWidget(self.prior, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.changes)
        layout.addLayout(row, 1)

    def set_titles(self, current: str, prior: str) -> None:
        self.current.title, self.prior.title = current, prior
        for view in (self.current, self.prior):
            view.viewport().update()

    def set_changes(self, text: str) -> None:
        self.changes.setText(text)

    def views(self) -> tuple[ImageView, ImageView]:
        return self.current, self.prior
