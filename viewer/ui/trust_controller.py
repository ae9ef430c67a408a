"""The Trust tab: checks and comparisons run on the model thread, pointing on this one.

A check belongs to the explanation it was asked for (its key); the state drops a result for a map no longer on
screen, like a stale explanation (ViewerState.accept_report / on_screen).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import QMainWindow

from viewer.app import Box, CompareRequest, ExplainKey, Explanation, TrustRequest, ViewerState
from viewer.app.session import ModelSession
from viewer.errors import RadcamError
from viewer.export.explanation import method_title

from .comparison_dialog import ComparisonDialog
from .jobs import QtJobs
from .settings import Settings
from .trust_panel import TrustPanel
from .views import ImageView


class TrustController:
    def __init__(self, window: QMainWindow, state: ViewerState, jobs: QtJobs, session: ModelSession,
                 panel: TrustPanel, views: dict[str, ImageView], settings: Settings, report: Callable[[str], None],
                 headless: Callable[[], bool]):
        self.window, self.state, self.jobs, self.session, self.panel = window, state, jobs, session, panel
        self.views, self.settings, self.error, self.headless = views, settings, report, headless
        self.comparison: ComparisonDialog | None = None
        self._compare_header = ""
        panel.checkRequested.connect(self.check)
        panel.compareRequested.connect(self.compare)
        panel.clearBoxRequested.connect(lambda: self.set_box(None))
        panel.show_details(settings.get("trust/details", False))  # the details stay open once a reader opens them
        panel.detailsToggled.connect(lambda shown: settings.set("trust/details", shown))
        for view in views.values():
            view.boxDrawn.connect(self.set_box)
        state.connect("explanation", self._on_explanation)
        state.connect("image", lambda _image: panel.clear())
        state.connect("box", self._on_box)

    @property
    def box(self) -> Box | None:
        return self.state.box

    @property
    def report(self) -> dict[str, Any] | None:
        return self.state.trust_report

    # -- requests (model thread) ---------------------------------------------------------------------------

    def _explanation(self) -> Explanation | None:
        explanation = self.state.showing()
        if explanation is None:
            self.error("Explain the image first (Ctrl+Return), then check or compare its map")
        return explanation

    def check(self) -> int | None:
        explanation = self._explanation()
        if explanation is None or self.state.model_input is None:
            return None
        request = TrustRequest(key=explanation.key, pixels=self.state.model_input, result=explanation.result,
                               region=self._region(explanation.result.cam.shape))
        self.panel.set_busy(True)
        session = self.session
        # Esc or Cancel ends the job with neither a result nor an error: the button must still read normally.
        return self.jobs.model.submit(lambda reporter: session.check(request, reporter), self._checked,
                                      self._check_failed, kind="trust", replace=True, progress=True,
                                      on_cancel=lambda: self.panel.set_busy(False))

    def compare(self) -> int | None:
        explanation = self._explanation()
        state = self.state
        if explanation is None or state.model_input is None or state.base is None:
            return None
        key = explanation.key
        header = f"{Path(key.path).name if not state.anonymous else 'image'} · " \
                 f"target {explanation.result.target.name} · layer {explanation.result.layer}"
        request = CompareRequest(key=key, pixels=state.model_input, base=state.base, style=state.style,
                                 header=header)
        self._compare_header = header
        session = self.session
        return self.jobs.model.submit(lambda reporter: session.compare(request, reporter), self._compared,
                                      self.error, kind="compare", replace=True, progress=True)

    # -- results -------------------------------------------------------------------------------------------

    def _checked(self, result: tuple[ExplainKey, dict[str, Any]]) -> None:
        self.panel.set_busy(False)
        if self.state.accept_report(*result):
            explanation = self.state.explanation
            target = explanation.result.target.name if explanation is not None else ""
            self.panel.set_report(result[1], method_title(result[0].method), target)

    def _check_failed(self, message: str) -> None:
        self.panel.set_busy(False)
        self.error(message)

    def _compared(self, result: tuple[ExplainKey, np.ndarray, list[tuple[str, np.ndarray]]]) -> None:
        key, grid, panels = result
        if not self.state.on_screen(key):
            return
        folder = self.settings.get("export/folder", str(Path.home()))
        self.comparison = ComparisonDialog(grid, panels, str(Path(folder) / "radcam_methods.png"), self.window,
                                           header=self._compare_header)
        if not self.headless():
            self.comparison.show()

    def _on_explanation(self, explanation: Explanation | None) -> None:
        """A new map is on screen: the old check no longer applies; pointing is instant and redone."""
        if explanation is None:
            return
        self.panel.clear(f"{method_title(explanation.result.method)} map: press Check this map "
                         "(Ctrl+T) to measure it.")
        self._show_pointing()
        if self.panel.automatic_checks():
            self.check()

    # -- pointing (this thread: a max and a sum over the map) -----------------------------------------------

    def set_box(self, box: Box | None) -> None:
        self.state.box = box

    def _on_box(self, box: Box | None) -> None:
        for view in self.views.values():
            view.set_box(box)
        self._show_pointing()
        self._point_classes()

    def _region(self, shape: tuple[int, ...]) -> np.ndarray | None:
        from viewer.trust import box_mask

        if self.state.box is None:
            return None
        try:
            region: np.ndarray = box_mask(shape, self.state.box)
        except RadcamError:
            return None
        return region

    def _show_pointing(self) -> None:
        from viewer.trust import localise

        explanation = self.state.explanation
        region = self._region(explanation.result.cam.shape) if explanation is not None else None
        if explanation is None or region is None:
            self.panel.set_pointing(None)
            return
        self.panel.set_pointing(localise(explanation.result.cam, region).to_dict())

    def _point_classes(self) -> None:
        """A box drawn after the check: whether each label's map peaks in it, from the peaks the check found
        (a map's peak is its maximum, so this is localise()'s hit without the maps)."""
        from viewer.trust import DEFAULT_TOLERANCE

        report, explanation = self.state.trust_report, self.state.explanation
        if not report or not report.get("classes") or explanation is None:
            return
        classes = report["classes"]
        region = self._region(explanation.result.cam.shape)
        pointing: dict[str, dict[str, bool] | None] = {label: None for label in classes["labels"]}
        if region is not None:
            ys, xs = np.nonzero(region)
            for label, peak in classes["peaks"].items():
                near = peak is not None and float(np.min((xs - peak[0]) ** 2 + (ys - peak[1]) ** 2)) <= \
                    DEFAULT_TOLERANCE ** 2
                pointing[label] = {"own": bool(near), "other": False}
        report["classes"] = {**classes, "pointing": pointing}
        self.panel.set_classes(report["classes"])
