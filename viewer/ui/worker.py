"""A background thread that runs jobs one at a time and reports back through Qt signals.

The window owns two: the model thread (TensorFlow, the model, CAM, batch export: TF state stays on one thread)
and the IO thread (decoding DICOM, thumbnails), so a 0.5 s JPEG 2000 decode never waits behind a Score-CAM run
and never blocks the UI. Every job has an id; the window keeps the id it is waiting for and ignores the rest.
"""

from __future__ import annotations

import itertools
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from viewer.errors import RadcamError

PROGRESS_INTERVAL_S = 0.05  # a progress bar needs no more than 20 updates a second
_ids = itertools.count(1)  # ids are unique across threads, so a stale id can never match a new job


@dataclass
class Job:
    id: int
    kind: str
    fn: Callable
    cancel_event: threading.Event = field(default_factory=threading.Event)


class JobContext:
    """What a job function gets: a cancel check for its loops and a progress reporter."""

    def __init__(self, job: Job, thread: JobThread):
        self.id = job.id
        self._job = job
        self._thread = thread
        self._last_progress = -PROGRESS_INTERVAL_S  # the first report goes out at once

    def cancelled(self) -> bool:
        return self._job.cancel_event.is_set() or self._thread.stopping

    def progress(self, fraction: float) -> None:
        """Report progress; at most one report per PROGRESS_INTERVAL_S (Score-CAM at batch 1 calls this
        hundreds of times a second: every call was a queued signal for the UI thread), and always the end."""
        fraction = float(min(max(fraction, 0.0), 1.0))
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self._thread._emit(self._thread.progressed, self.id, fraction)


def describe_failure(exc: BaseException) -> str:
    """One line a user can act on; anything that is not a RadcamError is also printed for a bug report."""
    if isinstance(exc, RadcamError):
        return " ".join(str(exc).split())
    name = type(exc).__name__
    if isinstance(exc, MemoryError) or "ResourceExhausted" in name or "out of memory" in str(exc).lower():
        return f"out of memory: {' '.join(str(exc).split())[:200] or name}"
    traceback.print_exception(exc, file=sys.stderr)
    return f"internal error: {name}: {' '.join(str(exc).split())[:300]}"


class JobThread(QObject):
    started = Signal(int, str)  # id, kind
    progressed = Signal(int, float)  # id, fraction 0..1
    finished = Signal(int, str, object)  # id, kind, result
    failed = Signal(int, str, str)  # id, kind, one-line reason
    cancelled = Signal(int, str)

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.submitted = 0  # how many jobs were ever submitted (tests count model calls with it)
        self.stopping = False
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending: list[Job] = []
        self._current: Job | None = None
        self._thread = threading.Thread(target=self._run, name=f"radcam-{name}", daemon=True)
        self._thread.start()

    def submit(self, kind: str, fn: Callable[[JobContext], object], replace: bool = False) -> int:
        """Queue `fn(context)`; with replace, jobs of the same kind still waiting or running are cancelled."""
        job = Job(next(_ids), kind, fn)
        with self._lock:
            if replace:
                for other in self._pending + ([self._current] if self._current else []):
                    if other.kind == kind:
                        other.cancel_event.set()
            self._pending.append(job)
            self.submitted += 1
        self._queue.put(job)
        return job.id

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel one job, or (None) everything queued and running."""
        with self._lock:
            for job in self._pending + ([self._current] if self._current else []):
                if job_id is None or job.id == job_id:
                    job.cancel_event.set()

    def busy(self) -> bool:
        with self._lock:
            return self._current is not None or bool(self._pending)

    def shutdown(self, timeout: float) -> bool:
        """Cancel everything and wait up to `timeout` s; False when a job could not be interrupted in time."""
        self.stopping = True
        self.cancel()
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self.stopping:
                return
            with self._lock:
                self._pending.remove(job)
                self._current = job
            try:
                if job.cancel_event.is_set():
                    self._emit(self.cancelled, job.id, job.kind)
                    continue
                self._emit(self.started, job.id, job.kind)
                context = JobContext(job, self)
                try:
                    result = job.fn(context)
                except BaseException as exc:  # noqa: BLE001 - the thread must survive any job: report and go on
                    if context.cancelled():
                        self._emit(self.cancelled, job.id, job.kind)
                    else:
                        self._emit(self.failed, job.id, job.kind, describe_failure(exc))
                    continue
                if context.cancelled():
                    self._emit(self.cancelled, job.id, job.kind)
                else:
                    self._emit(self.finished, job.id, job.kind, result)
            finally:
                with self._lock:
                    self._current = None

    def _emit(self, signal, *args) -> None:
        if self.stopping:
            return
        try:
            signal.emit(*args)  # queued to the UI thread: the receivers live there
        except RuntimeError:  # the window (and this QObject) is being destroyed while we finish
            pass
