"""Explaining: requests to the model thread, the heatmap and overlay views, the predictions table.

Method, target and layer (ExplainSettings) need the model; threshold, opacity, colour map and contour (the
OverlayStyle) only redraw the overlay on this thread from the cached CAM and never reach the model thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow

from viewer.app import ExplainRequest, ExplainSettings, Explanation, ViewerState
from viewer.app.findings import on_screen as findings_on_screen
from viewer.app.session import ModelSession, draw
from viewer.export.explanation import method_title
from viewer.io import DisplayImage
from viewer.render import OverlayRenderer, heatmap

from .colorbar_overlay import ColorBarOverlay
from .controls import ControlPanel
from .findings_controller import FindingsController
from .jobs import QtJobs
from .views import ImageView


class ExplainController(QObject):
    shown = Signal()  # a CAM for the current image and settings is on screen

    def __init__(self, window: QMainWindow, state: ViewerState, jobs: QtJobs, session: ModelSession,
                 controls: ControlPanel, views: dict[str, ImageView], report: Callable[[str], None]):
        super().__init__(window)
        self.window, self.state, self.jobs, self.session = window, state, jobs, session
        self.controls, self.heatmap, self.overlay, self.report = controls, views["heatmap"], views["overlay"], report
        self.renderer: OverlayRenderer | None = None  # over the state's base, reused for every slider move
        self.findings = FindingsController(window, state, jobs, session, self.overlay, report)  # All findings (G)
        self.last_overlay_ms = 0.0
        controls.explainRequested.connect(lambda: self.request(force=True))
        controls.explainSettingsChanged.connect(self._on_settings)
        controls.overlayChanged.connect(lambda: setattr(state, "style", controls.overlay_style()))
        jobs.busy.connect(lambda busy: None if busy else controls.set_busy(False))
        jobs.dropped.connect(self._on_dropped)
        state.connect("image", self._on_image)
        state.connect("model", self._on_model)
        state.connect("style", self._on_style)
        state.connect("base", self._on_base)
        for name in ("all_findings", "findings"):  # All findings drawn in place of the one map, or no longer
            state.connect(name, lambda _value: self._refresh_overlay())
        state.connect("explanation", lambda explanation: None if explanation else setattr(self, "renderer", None))
        self.colorbar = ColorBarOverlay.attach(self.heatmap, state)  # the map's scale with the CAM threshold marked
        self.sync()

    def sync(self) -> None:
        """The control panel's method, target and layer, and its overlay style, into the state."""
        self.state.settings = ExplainSettings(self.controls.method_key(), self.controls.target_index(),
                                              self.controls.layer_name())
        self.state.style = self.controls.overlay_style()

    def method_name(self) -> str:
        return method_title(self.state.settings.method)

    # -- requests --------------------------------------------------------------------------------------------

    def request(self, force: bool = False) -> int | None:
        """Ask the model thread for the current image and settings; a running explanation is superseded."""
        state = self.state
        key = state.key()
        if key is None or state.model_input is None or state.base is None:
            return None
        if state.model is None:
            state.explain_pending = True
            if not state.model_loading:
                self.report("No model is loaded: open one with File → Open Model… (Ctrl+M)")
            return None
        state.explain_pending = False
        if not force and state.explanation is not None and state.explanation.key == key:
            # Back to what is on screen: whatever is still running for other settings is stale.
            self.jobs.model.cancel("explain")
            self.heatmap.set_placeholder("")
            return None
        request = ExplainRequest(key=key, pixels=state.model_input, base=state.base, style=state.style)
        self.heatmap.set_placeholder(f"Explaining with {self.method_name()}…")
        self.controls.set_busy(True)
        session = self.session
        return self.jobs.model.submit(lambda reporter: session.explain(request, reporter), self._explained,
                                      self._failed, kind="explain", replace=True, progress=True,
                                      on_cancel=self._cancelled)

    def _on_settings(self) -> None:
        self.sync()
        if self.controls.auto():
            self.request()
        elif self.state.explanation is not None:
            self.window.statusBar().showMessage("Settings changed: press Explain (Ctrl+Return) to update", 6000)

    def _on_image(self, _image: DisplayImage) -> None:
        if self.controls.auto() or self.state.explain_pending:
            self.request()
        else:
            self.heatmap.set_placeholder("Press Explain (Ctrl+Return)")

    def _on_model(self, model: object) -> None:
        self.sync()  # a new model: target and layer are back to auto
        if model is not None and (self.state.explain_pending or (
                self.state.image is not None and self.controls.auto())):
            self.request(force=True)

    # -- results ---------------------------------------------------------------------------------------------

    def _explained(self, explanation: Explanation) -> None:
        if not self.state.accept(explanation):  # the image or a setting changed while it ran
            return
        base = self.state.base
        if base is not None and explanation.base is not base:  # window/level changed while it ran: the new base
            explanation.renderer = OverlayRenderer(base, explanation.result.cam)
            explanation.overlay = None
        result = explanation.result
        self.renderer = explanation.renderer
        if explanation.overlay is not None and explanation.style == self.state.style and not explanation.style.contour:
            self.overlay.set_pixels(explanation.overlay)
        else:  # a slider moved while it ran
            self._refresh_overlay()
        self._recolour_heatmap()
        self.heatmap.set_pixels(explanation.heatmap)
        self.heatmap.set_placeholder("The map localises nothing for this target (no activation above zero, or "
                                     "the same everywhere)" if result.empty else "")
        self.controls.set_predictions(result.predictions, result.target.index)
        total = sum((result.timings_ms or {}).values())
        self.jobs.show_timing(f"{self.method_name()}: {total:.0f} ms" if total else "")
        if result.device:
            self.jobs.show_device(result.device)
        self.shown.emit()

    def _failed(self, message: str) -> None:
        self.heatmap.set_placeholder("Explanation failed")
        self.report(message)

    def _cancelled(self) -> None:
        self.heatmap.set_placeholder("Cancelled: press Explain (Ctrl+Return)")

    def _on_dropped(self, kind: str) -> None:
        if kind == "explain":
            self.state.dropped_results += 1

    # -- the overlay (this thread, no model) ----------------------------------------------------------------

    def _on_style(self, _style: object) -> None:
        if self._recolour_heatmap() and self.state.explanation is not None:
            self.heatmap.set_pixels(self.state.explanation.heatmap)
        self._refresh_overlay()

    def _on_base(self, base: np.ndarray | None) -> None:
        explanation = self.state.explanation
        if explanation is not None and base is not None:
            self.renderer = OverlayRenderer(base, explanation.result.cam)
            self._refresh_overlay()
        else:
            self.overlay.set_pixels(base)

    def _recolour_heatmap(self) -> bool:
        """Colour the heatmap again when the colour map changed after the job drew it; True when it did."""
        colormap = self.state.style.colormap
        explanation = self.state.explanation
        if explanation is None or explanation.style.colormap == colormap:
            return False
        explanation.heatmap = heatmap(explanation.result.cam, colormap)
        explanation.style = replace(explanation.style, colormap=colormap)
        return True

    def _refresh_overlay(self) -> None:
        if findings_on_screen(self.state) is not None:  # All findings: the original, outlined by findings_layer
            self.overlay.set_pixels(self.state.base)
            return
        if self.renderer is None:
            return
        start = time.perf_counter()
        # The contour is the view's vector path (viewer.ui.contour_layer), not burned into the pixels.
        self.overlay.set_pixels(draw(self.renderer, replace(self.state.style, contour=False)))
        self.last_overlay_ms = (time.perf_counter() - start) * 1000
