"""File → Export: the dialog, the overwrite question, and the export job (viewer.app.exporting plans it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMainWindow, QMessageBox

from viewer.app import ViewerState
from viewer.app.exporting import ExportOptions, ExportPlan, describe
from viewer.app.session import ModelSession

from .browser import StudyBrowser
from .decoding import Decoder
from .export_dialog import ExportDialog
from .jobs import QtJobs
from .settings import Settings
from .views import ViewGroup


class ExportController:
    def __init__(self, window: QMainWindow, state: ViewerState, jobs: QtJobs, session: ModelSession,
                 browser: StudyBrowser, view_group: ViewGroup, decoder: Decoder, settings: Settings,
                 report: Callable[[str], None]):
        self.window, self.state, self.jobs, self.session, self.browser = window, state, jobs, session, browser
        self.view_group, self.decoder, self.settings, self.report = view_group, decoder, settings, report

    def dialog(self, batch: bool = False) -> None:
        if self.state.image is None:
            self.report("Nothing to export: open an image first")
            return
        options = ExportOptions.from_settings(self.settings.get)
        options.batch = batch
        options.anonymize = options.anonymize or self.state.anonymous
        dialog = ExportDialog(options, len(self.browser.instances()), self.window)
        if dialog.exec():
            self.export(dialog.options())

    def export(self, options: ExportOptions, confirm: Callable[[list[Path]], bool] | None = None) -> int | None:
        """Write the chosen panels; existing files are replaced only after `confirm(paths)` (a question box)."""
        for key, value in options.to_settings().items():
            self.settings.set(f"export/{key}", value)
        plan = ExportPlan(self.state, options, [instance.path for instance in self.browser.instances()],
                          self.view_group.zoom_percent())
        refusal = plan.refusal()
        if refusal is not None:
            self.report(refusal)
            return None
        if plan.existing and not (confirm or self._confirm_overwrite)(plan.existing):
            return None
        jobs = self.jobs.model if plan.batch else self.jobs.io
        return jobs.submit(plan.job(self.session, self.decoder.image), self._done, self.report, kind="export",
                           progress=True)

    def _done(self, written: list[Path]) -> None:
        self.window.statusBar().showMessage(describe(written), 10000)

    def _confirm_overwrite(self, existing: list[Path]) -> bool:
        names = "\n".join(str(p) for p in existing[:8]) + ("\n…" if len(existing) > 8 else "")
        answer = QMessageBox.question(self.window, "Replace files?", f"{len(existing)} file(s) exist already:\n"
                                      f"{names}\n\nReplace them?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes
