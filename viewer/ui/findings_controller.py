"""All findings (G): every finding above its decision threshold as a labelled contour on the overlay panel.

The maps are asked of the model thread (job kind 'findings', viewer.app.findings.job) whenever the mode is on and
a new explanation is on screen; the overlay panel then shows the original (explain controller) with the findings'
outlines, labels and legend as screen-sized items (findings_layer), and File → Export burns the same drawing in
(viewer.app.findings.overlay).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMainWindow

from viewer.app import ViewerState, findings as all_findings
from viewer.app.session import ModelSession

from .findings_layer import FindingsLayer
from .jobs import QtJobs
from .views import ImageView


class FindingsController(QObject):
    def __init__(self, window: QMainWindow, state: ViewerState, jobs: QtJobs, session: ModelSession,
                 overlay: ImageView, report: Callable[[str], None]):
        super().__init__(window)
        self.window, self.state, self.jobs, self.session, self.report = window, state, jobs, session, report
        self.layer = FindingsLayer(state, overlay)
        state.connect("all_findings", self._ask)
        state.connect("explanation", self._ask)

    def toggle(self, on: bool) -> None:
        self.state.all_findings = bool(on)

    def _ask(self, _value: object) -> None:
        self.request()

    def request(self) -> int | None:
        """Ask for the findings of the explanation on screen, unless they are in or the mode is off."""
        state = self.state
        explanation = state.showing()
        if not state.all_findings or explanation is None or state.model_input is None:
            return None
        if state.findings is not None and state.findings.key == explanation.key:
            return None
        scores = [row["score"] for row in explanation.result.predictions] or None
        self.window.statusBar().showMessage("Explaining every finding…", 3000)
        job = all_findings.job(self.session, explanation.key, state.model_input, scores)
        # With progress: a method without the shared pass (Score-CAM) runs once per finding, and Esc cancels it.
        return self.jobs.model.submit(job, self._done, self.report, kind="findings", replace=True, progress=True)

    def _done(self, shown: all_findings.ShownFindings) -> None:
        if not self.state.on_screen(shown.key):  # another image or setting since: a newer request follows
            return
        self.state.findings = shown
        found = shown.findings
        names = ", ".join(f"{f.target.name} {f.score:.2f}" for f in found.findings) or "none above its threshold"
        how = "one pass" if found.shared_pass else f"{len(found.findings)} passes"
        self.window.statusBar().showMessage(f"All findings ({how}): {names}", 8000)
