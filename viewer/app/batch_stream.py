"""The local runner of predict and evaluate over many images: chunks of work (batch_predict.predict_chunk,
batch_evaluate.evaluate_chunk — the same units a Ray actor runs) with at most two in flight, one decoding while the
other is on the model, outcomes yielded in input order. Nothing here prints."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from .batch_budget import chunks
from .batch_spec import ImageOutcome, ImageTask

Work = Callable[[list[ImageTask], threading.Event], list[ImageOutcome]]
_LOCKS: dict[int, threading.Lock] = {}  # one per model: two chunks in flight share it, one call at a time
_LOCKS_GUARD = threading.Lock()


def model_lock(model: object) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(model), threading.Lock())


def stream(work: Work, tasks: Sequence[ImageTask], batch: int) -> Iterator[ImageOutcome]:
    """`work(chunk, stop)` of each chunk of `batch` tasks, two in flight, its outcomes in input order. Closing the
    iterator (Ctrl+C in the caller) sets `stop`: the chunks under way end after the image each is on, none starts."""
    stop = threading.Event()
    runner = ThreadPoolExecutor(2, thread_name_prefix="radcam-chunk")
    pending: deque[Future[list[ImageOutcome]]] = deque()
    try:
        for chunk in chunks(tasks, batch):  # explain's chunks: at most `batch` images and a pixel budget
            if len(pending) >= 2:
                yield from pending.popleft().result()
            pending.append(runner.submit(work, chunk, stop))
        while pending:
            yield from pending.popleft().result()
    finally:
        stop.set()
        runner.shutdown(wait=True, cancel_futures=True)
