"""The job contract: long work runs off the UI thread and reports through one Reporter.

    jobs.submit(job, on_done, on_error, kind="explain", replace=True, progress=True) -> job id

`job(reporter)` runs on a worker (the model thread for TensorFlow, the IO thread for decoding and single exports);
`on_done(result)` or `on_error(one_line_reason)` runs afterwards on the UI thread, and only while the job is still
the wanted one of its kind: a newer job of the same kind supersedes it (`replace=True` also cancels it), and its
result is dropped (JobTracker). The reporter is the job's one handle on the UI: `progress(fraction)` and
`cancelled()`; `Part(reporter, start, span)` gives a step its share of the bar. The reporter is viewer.progress's
(`Reporter`, `Quiet`, `Part`, defined below every layer that does long work: cam, trust and pacs cannot import
app): the job passes it on as it is to
CamEngine.explain and the trust measures (`reporter=`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from viewer.progress import Part, Quiet, Reporter

R = TypeVar("R")

Job = Callable[[Reporter], R]


class Jobs(Protocol):
    """Runs jobs; the Qt implementation is viewer.ui.jobs.QtJobs (two worker threads), InlineJobs runs at once."""

    def submit(self, job: Job[R], on_done: Callable[[R], None], on_error: Callable[[str], None], *, kind: str,
               replace: bool = False, progress: bool = False) -> int: ...

    def cancel(self, kind: str) -> None: ...


class JobTracker:
    """Which job of each kind is wanted: a result of any other is stale."""

    def __init__(self) -> None:
        self._wanted: dict[str, int] = {}

    def start(self, kind: str, job_id: int) -> None:
        self._wanted[kind] = job_id

    def wanted(self, kind: str) -> int | None:
        return self._wanted.get(kind)

    def is_wanted(self, kind: str, job_id: int) -> bool:
        return self._wanted.get(kind) == job_id

    def forget(self, kind: str) -> int | None:
        """No job of `kind` is wanted any more (its result will be dropped); the id it had, to cancel it."""
        return self._wanted.pop(kind, None)


class InlineJobs:
    """The contract without threads: each job runs inside submit(); for tests and scripts of the app layer."""

    def __init__(self, reporter: Reporter | None = None) -> None:
        self.reporter: Reporter = reporter or Quiet()
        self.tracker = JobTracker()
        self.submitted = 0

    def submit(self, job: Job[R], on_done: Callable[[R], None], on_error: Callable[[str], None], *, kind: str,
               replace: bool = False, progress: bool = False) -> int:
        from viewer.errors import RadcamError

        self.submitted += 1
        job_id = self.submitted
        self.tracker.start(kind, job_id)
        try:
            result = job(self.reporter)
        except RadcamError as exc:
            if self.tracker.is_wanted(kind, job_id):
                on_error(" ".join(str(exc).split()))
            return job_id
        if self.tracker.is_wanted(kind, job_id):
            on_done(result)
        return job_id

    def cancel(self, kind: str) -> None:
        self.tracker.forget(kind)


__all__ = ["InlineJobs", "Job", "JobTracker", "Jobs", "Part", "Quiet", "Reporter"]
