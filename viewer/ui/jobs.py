"""The job contract of viewer.app.jobs on Qt's worker threads, and the status bar's progress and Cancel.

`jobs.model.submit(job, on_done, on_error, kind=...)` runs on the model thread, `jobs.io.submit(...)` on the IO
thread; results come back through the threads' queued signals and reach `on_done` / `on_error` (and `on_cancel`)
only while the job is still the wanted one of its kind (one JobTracker for both threads). Nothing switches on kind
strings: each caller says what to do with its own result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from viewer.app.events import Event
from viewer.app.jobs import Job, JobTracker

from .worker import JobThread

R = TypeVar("R")


@dataclass
class _Pending:
    kind: str
    on_done: Callable[[Any], None]
    on_error: Callable[[str], None]
    on_cancel: Callable[[], None] | None


class ThreadJobs:
    """Jobs on one JobThread; see the module's docstring."""

    def __init__(self, thread: JobThread, owner: QtJobs):
        self.thread, self.owner = thread, owner
        thread.finished.connect(self._finished)
        thread.failed.connect(self._failed)
        thread.cancelled.connect(self._cancelled)
        thread.progressed.connect(owner._progressed)

    def submit(self, job: Job[R], on_done: Callable[[R], None], on_error: Callable[[str], None], *, kind: str,
               replace: bool = False, progress: bool = False, on_cancel: Callable[[], None] | None = None) -> int:
        job_id = self.thread.submit(kind, job, replace=replace)
        self.owner.tracker.start(kind, job_id)
        self.owner.pending[job_id] = _Pending(kind, on_done, on_error, on_cancel)
        if progress:
            self.owner.show_progress(job_id)
        return job_id

    def cancel(self, kind: str) -> None:
        job_id = self.owner.tracker.forget(kind)
        if job_id is not None:
            self.thread.cancel(job_id)

    def _wanted(self, job_id: int) -> _Pending | None:
        self.owner.ended(job_id)
        pending = self.owner.pending.pop(job_id, None)
        if pending is None:
            return None  # a job nobody waits for (the warm-up)
        if not self.owner.tracker.is_wanted(pending.kind, job_id):
            self.owner.dropped.emit(pending.kind)
            return None
        return pending

    def _finished(self, job_id: int, _kind: str, result: object) -> None:
        pending = self._wanted(job_id)
        if pending is not None:
            pending.on_done(result)

    def _failed(self, job_id: int, _kind: str, message: str) -> None:
        pending = self._wanted(job_id)
        if pending is not None:
            pending.on_error(message)

    def _cancelled(self, job_id: int, _kind: str) -> None:
        pending = self._wanted(job_id)
        if pending is not None:
            self.owner.cancelled.emit(pending.kind)
            if pending.on_cancel is not None:
                pending.on_cancel()


class QtJobs:
    """The model and IO threads' jobs, and the status bar widgets that show the one job with a progress bar."""

    def __init__(self, model_thread: JobThread, io_thread: JobThread, status: QStatusBar):
        self.tracker = JobTracker()
        self.pending: dict[int, _Pending] = {}
        self.dropped: Event[str] = Event("dropped")  # a result of a superseded job arrived (kind)
        self.cancelled: Event[str] = Event("cancelled")  # a wanted job was cancelled (kind)
        self.busy: Event[bool] = Event("busy")  # the job with a progress bar started / ended
        self.progress_job: int | None = None
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_running)
        self.timing_label = QLabel("")
        self.device_label = QLabel("Device: starting…")
        self.progress.hide()
        self.cancel_button.hide()
        for widget in (self.progress, self.cancel_button, self.timing_label, self.device_label):
            status.addPermanentWidget(widget)
        self.model = ThreadJobs(model_thread, self)
        self.io = ThreadJobs(io_thread, self)

    def show_progress(self, job_id: int) -> None:
        self.progress_job = job_id
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress.show()
        self.cancel_button.show()
        self.busy.emit(True)

    def _progressed(self, job_id: int, fraction: float) -> None:
        if job_id == self.progress_job:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(fraction * 100))

    def ended(self, job_id: int) -> None:
        if job_id == self.progress_job:
            self.progress_job = None
            self.progress.hide()
            self.cancel_button.hide()
            self.busy.emit(False)

    def show_device(self, device: str) -> None:
        self.device_label.setText(f"Device: {device}")

    def show_timing(self, text: str) -> None:
        self.timing_label.setText(text)

    def cancel_running(self) -> None:
        """Esc and the Cancel button: stop the job whose progress is shown."""
        if self.progress_job is not None:
            self.model.thread.cancel(self.progress_job)
            self.io.thread.cancel(self.progress_job)
