"""The bounded batch pipeline of `radcam-cli explain` over many images: decode in parallel threads, the model on a
chunk of images at once, encode and write in parallel threads; each image's files all or nothing.

`explain_chunk` is the one unit of work: the local runner (`run_local`) and each Ray actor (viewer.app.cluster) call
it. Nothing here prints: what an image says (its JSON line, its warning, its error) travels in its ImageOutcome and
the caller says it, in input order.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from .batch_budget import chunks  # at most `batch` images and PIXEL_BUDGET pixels, formed as they are needed
from .batch_chunk import explain_chunk
from .batch_spec import (
    DEFAULT_BATCH,
    DEFAULT_OUTPUTS,
    OUTPUT_KINDS,
    BatchSpec,
    ImageOutcome,
    ImageTask,
    parse_outputs,
    planned_outputs,
)


def run_local(engine: Any, spec: BatchSpec, tasks: Sequence[ImageTask], *, batch: int = DEFAULT_BATCH,
              workers: int | None = None) -> Iterator[ImageOutcome]:
    """Every task's outcome, in input order, with at most two chunks in flight: one decoding or writing while the
    other is on the model. Closing the iterator (Ctrl+C in the caller) lets the chunks under way finish the image
    each thread is on (its set whole) and starts nothing more."""
    workers = max(1, workers or os.cpu_count() or 1)
    stop = threading.Event()
    decode = ThreadPoolExecutor(workers, thread_name_prefix="radcam-decode")
    encode = ThreadPoolExecutor(workers, thread_name_prefix="radcam-encode")
    runner = ThreadPoolExecutor(2, thread_name_prefix="radcam-chunk")
    pending: deque[Future[list[ImageOutcome]]] = deque()
    ready: deque[ImageOutcome] = deque()  # a finished chunk's outcomes, their sets still staged
    try:
        for chunk in chunks(tasks, batch):
            if len(pending) >= 2:
                ready.extend(pending[0].result())  # still pending if interrupted while waiting
                pending.popleft()
                yield from _committed(ready)
            queued = threading.Event()  # the next chunk's images queue for decoding behind this one's, not among them
            pending.append(runner.submit(explain_chunk, engine, spec, chunk, decode, encode, stop=stop, defer=True,
                                         queued=queued))
            queued.wait()
        while pending:
            ready.extend(pending[0].result())
            pending.popleft()
            yield from _committed(ready)
    finally:
        stop.set()
        for pool in (runner, decode, encode):
            pool.shutdown(wait=True, cancel_futures=True)
        for future in pending:  # the chunks under way when the run stopped: their sets are never moved in
            if future.done() and not future.cancelled() and future.exception() is None:
                ready.extend(future.result())
        for outcome in ready:
            if outcome.staged is not None:
                outcome.staged.discard()


def _committed(ready: deque[ImageOutcome]) -> Iterator[ImageOutcome]:
    """Each outcome once its set is moved in, here in the main thread: Ctrl+C or SIGTERM (raised here) falls between
    two images, never inside one's set."""
    from viewer.errors import RadcamError

    while ready:
        outcome = ready[0]
        if outcome.staged is not None:
            try:
                outcome.staged.commit()
            except RadcamError as exc:
                outcome = replace(outcome, line=None, written=[], error=str(exc))
            outcome.staged = None
        ready.popleft()
        yield outcome


__all__ = ["DEFAULT_BATCH", "DEFAULT_OUTPUTS", "OUTPUT_KINDS", "BatchSpec", "ImageOutcome", "ImageTask",
           "explain_chunk", "parse_outputs", "planned_outputs", "run_local"]
