"""ViewGroup: zoom or pan one view and the others follow; and the window/level step of a right-drag."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .views import ImageView


class ViewGroup:
    """Zoom or pan one view and the others follow."""

    def __init__(self, views: list[ImageView]):
        self.views = views
        self.active = views[0]
        self._following = False
        for view in views:
            view.viewChanged.connect(lambda v=view: self.follow(v))
            view.activated.connect(lambda v=view: setattr(self, "active", v))

    def follow(self, leader: ImageView) -> None:
        if self._following:
            return
        self._following = True
        try:
            state = leader.state()
            for view in self.views:
                if view is not leader and view.has_image():
                    view.apply_state(state)
        finally:
            self._following = False

    def _leader(self) -> ImageView:
        visible = [v for v in self.views if v.isVisible() and v.has_image()]
        return self.active if self.active in visible else (visible[0] if visible else self.active)

    def zoom_by(self, factor: float) -> None:
        leader = self._leader()
        leader.zoom_by(factor)
        self.follow(leader)

    def fit(self) -> None:
        for view in self.views:
            view.fit()

    def actual_size(self) -> None:
        leader = self._leader()
        leader.actual_size()
        self.follow(leader)

    def zoom_percent(self) -> int:
        return int(round(self._leader().zoom * 100)) if self._leader().has_image() else 100


def window_after_drag(center: float, width: float, dx: float, dy: float, span: float) -> tuple[float, float]:
    """New (centre, width) after a right-drag: right widens, down raises the centre.

    One pixel moves by span/512 (span = the image's value range), so a drag across a view covers about a
    full range whatever the bit depth.
    """
    step = max(span, 1.0) / 512
    return center + dy * step, max(1.0, width + dx * step)
