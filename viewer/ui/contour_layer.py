"""The overlay view's contour: the CAM threshold's outline as a vector path (ImageView.set_contours), redrawn when
the map, the threshold or the contour switch change. The overlay's pixels are then drawn without a contour."""

from __future__ import annotations

from viewer.app import ViewerState
from viewer.render.contours import contour_polygons

from .views import ImageView


class ContourLayer:
    def __init__(self, state: ViewerState, view: ImageView) -> None:
        self.state, self.view = state, view
        self._drawn: tuple[object, float] | None = None  # (the CAM, the threshold) outlined on screen
        for name in ("image", "explanation", "style"):
            state.connect(name, self.update)

    def update(self, _value: object = None) -> None:
        state = self.state
        explanation = state.explanation
        if explanation is None or not state.style.contour or explanation.result.empty:
            self._drawn = None
            self.view.set_contours([])
            return
        key = (explanation.result.cam, state.style.threshold)
        if self._drawn is None or key[0] is not self._drawn[0] or key[1] != self._drawn[1]:  # not on opacity
            self._drawn = key
            self.view.set_contours(contour_polygons(explanation.result.cam, state.style.threshold))
