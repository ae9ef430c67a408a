"""How long work reports how far it is and learns that it should stop (Reporter), shared by every layer that does
long work: the CAM methods and trust measures, the PACS transfers, the application's jobs (viewer.app.jobs hands one
to each job). The lowest layer, so that viewer.pacs need not import viewer.cam for it."""

from __future__ import annotations

from typing import Protocol


class Cancelled(Exception):
    """Raised by a long CAM computation (Score-CAM) or trust measure when its reporter says it is cancelled."""


class Reporter(Protocol):
    """What long work (explain, the trust measures, the batched scoring) is given: where to say how far it is, and
    whether to stop. viewer.app's jobs hand one to every job; Quiet is the default."""

    def progress(self, fraction: float) -> None: ...

    def cancelled(self) -> bool: ...


class Quiet:
    """A reporter for work nobody watches: progress goes nowhere, never cancelled."""

    def progress(self, fraction: float) -> None:
        pass

    def cancelled(self) -> bool:
        return False


QUIET = Quiet()


class Part:
    """`span` of another reporter's bar from `start`: step n of a batch, the baselines after the measures."""

    def __init__(self, reporter: Reporter, start: float, span: float) -> None:
        self.reporter, self.start, self.span = reporter, start, span

    def progress(self, fraction: float) -> None:
        self.reporter.progress(self.start + self.span * fraction)

    def cancelled(self) -> bool:
        return self.reporter.cancelled()


class Muted:
    """Another reporter's cancellation without its progress: steps whose fractions the caller's bar does not show."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def progress(self, fraction: float) -> None:
        pass

    def cancelled(self) -> bool:
        return self.reporter.cancelled()
