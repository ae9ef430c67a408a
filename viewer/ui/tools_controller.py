"""Viewer basics: flips and quarter turns of every panel, edge letters, the magnifier, the ruler and the CTR.

Orientation and measurements are values of the state (viewer.app.orientation, viewer.app.measure), so the export
and the corner text read them from there; this controller turns the views, draws the letters and owns the tools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QMenu, QWidget

from viewer.app import ViewerState
from viewer.app.orientation import Orientation, edge_labels

from .loupe import Loupe
from .measure_tools import TOOLS, MeasureTool
from .orientation_view import EdgeLabels, turn
from .views import ImageView


class ToolsController:
    def __init__(self, window: QWidget, state: ViewerState, views: dict[str, ImageView],
                 report: Callable[[str], None]):
        self.window, self.state, self.views, self.report = window, state, views, report
        self.labels = {name: EdgeLabels(view) for name, view in views.items()}
        self.loupes = [Loupe(view) for view in views.values()]
        self.measure = MeasureTool(state, views, parent=window)
        self.actions: dict[str, Any] = {}
        self.measure.armedChanged.connect(self._armed)
        state.connect("orientation", self._turn)
        state.connect("image", lambda _image: self._show_labels())
        state.connect("image", lambda _image: self.measure.draw())

    def fill_menu(self, menu: QMenu, add: Callable[..., Any]) -> None:
        """View → Orientation and Tools; `add(menu, text, slot, keys, checkable=...)` is the menu table's adder."""
        add(menu, "Flip &Horizontal", lambda: self.change(self.state.orientation.flipped_h()), "H")
        add(menu, "Flip &Vertical", lambda: self.change(self.state.orientation.flipped_v()), "V")
        add(menu, "Rotate &Clockwise", lambda: self.change(self.state.orientation.rotated()), "Ctrl+R")
        add(menu, "Rotate C&ounter-clockwise", lambda: self.change(self.state.orientation.rotated(False)),
            "Ctrl+Shift+R")
        menu.addSeparator()
        self.actions["loupe"] = add(menu, "&Magnifier", self.set_loupe, "L", checkable=True,
                                    tip="A circle following the pointer shows the panel three times larger")
        self.actions["ruler"] = add(menu, "&Distance Ruler", lambda: self.measure.arm("ruler"), "D", checkable=True,
                                    tip="Drag to measure: mm from the file's pixel spacing, else px (uncalibrated)")
        self.actions["ctr"] = add(menu, "Cardiothoracic &Ratio", lambda: self.measure.arm("ctr"), "Ctrl+Shift+C",
                                  checkable=True, tip="Drag the heart's widest span, then the chest's inner width")
        add(menu, "Clear &Measurements", self.measure.clear, "Ctrl+Del")

    def change(self, orientation: Orientation) -> None:
        if self.state.image is not None:
            self.state.orientation = orientation

    def reset(self) -> None:
        """R: back to the file's own orientation (measurements stay: they are on the anatomy)."""
        self.state.orientation = Orientation()

    def set_loupe(self, enabled: bool) -> None:
        for loupe in self.loupes:
            loupe.set_enabled(enabled)

    def _turn(self, orientation: Orientation) -> None:
        for view in self.views.values():
            turn(view, orientation)
        self._show_labels()

    def _show_labels(self) -> None:
        image = self.state.image
        labels = edge_labels(image.dataset, self.state.orientation) if image is not None else {}
        for widget in self.labels.values():
            widget.set_labels(labels)

    def _armed(self, tool: str) -> None:
        for name in TOOLS:
            if name in self.actions:
                self.actions[name].setChecked(name == tool)
        if tool:
            status = self.window.statusBar()  # type: ignore[attr-defined]
            status.showMessage(TOOLS[tool] + " (middle drag pans; the same key ends it)", 8000)
