"""The pre-scan: the model's scores for every image of a worklist, in batches, while the reader works.

A job body for the model thread (`ModelSession.prescan`), also run as is by `radcam-cli session new`:

    result = prescan(session.entries, loaded_model, on_scores=lambda entry_id, scores, sha256: ...,
                     reporter=reporter, priority=lambda: visible_ids, cache=PredictionCache.for_model(...))

Threads: a pool of `os.cpu_count()` decoders runs ahead of the model (file digest, cache look-up, decode, the
default rendering, model input); the calling thread runs only the model, one call per batch. Before each batch
`priority()` names the entries on screen, and those not yet done go first. Scores are delivered per batch through
`on_scores(entry_id, {label: probability}, file_sha256)` on the calling thread (a cache hit at once, with no model
call). Entries are not changed here (they belong to the UI thread): the callback records scores and digest. An
image that cannot be read or scored fails alone: its one-line reason is in the result and the scan goes on.
Cancelling (the reporter) stops within the model call in progress (a batch decoded but not yet scored is dropped:
on a large model a call takes seconds; a decode in progress ends on its own); what was scored was delivered.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from viewer.cam.base import QUIET, Reporter
from viewer.errors import ModelError, RadcamError
from viewer.io import DisplayImage, open_image as io_open_image

from .prediction_cache import PredictionCache, Scores, content_sha256
from .review import Entry

if TYPE_CHECKING:
    from viewer.model.loaded import LoadedModel

BATCH_SIZE = 16  # images per model call: enough to fill a CPU's or a GPU's batch, small enough to show progress
WAIT_S = 0.1  # how often a wait on a decoder looks at the cancel flag

OnScores = Callable[[str, Scores, "str | None"], None]


class OpenImage(Protocol):
    def __call__(self, path: Path, frame: int = 0) -> DisplayImage: ...


@dataclass
class PrescanResult:
    """What a pre-scan did: images scored by the model, found in the cache, failed (entry id → one-line reason)."""

    scanned: int = 0
    cached: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    seconds: float = 0.0
    model_calls: int = 0
    batch_size: int = BATCH_SIZE  # the size last used (halved on out-of-memory)
    warning: str | None = None  # why scores were not kept on disk (the cache's warning), for the status line

    @property
    def done(self) -> int:
        return self.scanned + self.cached

    def summary(self) -> dict[str, object]:
        return {"scanned": self.scanned, "cached": self.cached, "failed": len(self.failed),
                "cancelled": self.cancelled, "seconds": round(self.seconds, 3), "model_calls": self.model_calls}


@dataclass(frozen=True)
class _Ready:  # decoded and prepared: waits for the model
    sha256: str
    x: np.ndarray  # (1, h, w, c) model input


@dataclass(frozen=True)
class _Hit:
    sha256: str
    scores: Scores


@dataclass(frozen=True)
class _Failed:
    reason: str


_Prepared = _Ready | _Hit | _Failed


def prescan(entries: Sequence[Entry], model: LoadedModel, on_scores: OnScores, *, reporter: Reporter = QUIET,
            priority: Callable[[], Iterable[str]] | None = None, cache: PredictionCache | None = None,
            batch_size: int = BATCH_SIZE, workers: int | None = None, open_image: OpenImage = io_open_image,
            on_failed: Callable[[str, str], None] | None = None) -> PrescanResult:
    """Score `entries` (in this order, `priority()` ids first) with `model`; see the module's docstring."""
    if batch_size < 1:
        raise ModelError(f"the pre-scan batch size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    result = PrescanResult(batch_size=batch_size)
    total = len(entries)
    pending = deque(entries)
    in_flight: deque[tuple[Entry, Future[_Prepared]]] = deque()
    digests = _Digests()
    depth = 2 * batch_size  # decoded ahead of the model: one batch waiting while the next is decoded
    first: list[str] = []  # the ids last put first (priority())

    def prepare(entry: Entry) -> _Prepared:
        return _prepare(entry, model, cache, open_image, digests)

    def fail(entry: Entry, reason: str) -> None:
        result.failed[entry.id] = reason
        if on_failed is not None:
            on_failed(entry.id, reason)

    def advance() -> None:  # per image: hits and failures one by one, a batch's images together
        reporter.progress((result.done + len(result.failed)) / total if total else 1.0)

    pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1, thread_name_prefix="radcam-prescan")
    try:
        while pending or in_flight:
            if reporter.cancelled():
                result.cancelled = True
                break
            if priority is not None:
                wanted = list(dict.fromkeys(priority()))
                if wanted != first:  # the rows on screen changed: those not started yet go first
                    first = wanted
                    _move_first(pending, wanted)
            while pending and len(in_flight) < depth:
                entry = pending.popleft()
                in_flight.append((entry, pool.submit(prepare, entry)))
            batch: list[tuple[Entry, _Ready]] = []
            while in_flight and len(batch) < batch_size:
                entry, future = in_flight[0]
                prepared = _wait(future, reporter)
                if prepared is None:
                    result.cancelled = True
                    break
                in_flight.popleft()
                if pending:  # keep the decoders busy while this batch fills
                    following = pending.popleft()
                    in_flight.append((following, pool.submit(prepare, following)))
                if isinstance(prepared, _Hit):
                    result.cached += 1
                    on_scores(entry.id, prepared.scores, prepared.sha256)
                    advance()
                elif isinstance(prepared, _Failed):
                    fail(entry, prepared.reason)
                    advance()
                else:
                    batch.append((entry, prepared))
            if batch and not result.cancelled and not reporter.cancelled():  # a model call can take seconds
                batch_size = result.batch_size = _score(batch, batch_size, model, cache, on_scores, fail, result)
            elif batch:
                result.cancelled = True
            advance()
            if result.cancelled:
                break
    finally:
        for _entry, future in in_flight:
            future.cancel()
        # Not waiting for a decode in progress (a huge JPEG 2000 takes seconds): the thread that runs the model
        # is free at once; the decoder ends on its own and its result is dropped.
        pool.shutdown(wait=False, cancel_futures=True)
        result.seconds = time.perf_counter() - started
        result.warning = cache.warning if cache is not None else None
    return result


def predict_batch(model: LoadedModel, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """(n, n_out) probabilities of n prepared model inputs (each (1, h, w, c)) in one model call."""
    probabilities: np.ndarray = model.probabilities(model.predict(np.concatenate(list(inputs), axis=0)))
    return probabilities


def _score(batch: list[tuple[Entry, _Ready]], size: int, model: LoadedModel, cache: PredictionCache | None,
           on_scores: OnScores, fail: Callable[[Entry, str], None], result: PrescanResult) -> int:
    """One model call for the batch (halved and retried on out-of-memory); the batch size that fitted."""
    start = 0
    while start < len(batch):
        part = batch[start:start + size]
        try:
            result.model_calls += 1
            rows = predict_batch(model, [ready.x for _entry, ready in part])
        except Exception as exc:  # only out-of-memory is retried: TensorFlow's error type without importing it
            if not _out_of_memory(exc):
                raise
            if size == 1:
                raise ModelError("the pre-scan ran out of memory even one image at a time") from None
            size //= 2
            continue
        kept: list[tuple[str, int, Scores]] = []
        for (entry, ready), row in zip(part, rows, strict=True):
            try:
                model.check_output(row)
            except ModelError as exc:  # NaN/inf for this image only: it fails alone
                fail(entry, f"{entry.path}: {exc}")
                continue
            scores = {label: float(score) for label, score in zip(model.labels, row, strict=False)}
            kept.append((ready.sha256, entry.frame, scores))
            result.scanned += 1
            on_scores(entry.id, scores, ready.sha256)
        if cache is not None:
            cache.put_many(kept)
        start += len(part)
    return size


def _prepare(entry: Entry, model: LoadedModel, cache: PredictionCache | None, open_image: OpenImage,
             digests: _Digests) -> _Prepared:
    """On a decoder thread: the file's digest, then the cache, else decode and prepare the model input."""
    try:
        sha256 = digests.get(entry.path)
    except OSError as exc:
        return _Failed(f"{entry.path}: cannot read: {exc.strerror or exc}")
    if cache is not None:
        found = cache.get(sha256, entry.frame)
        if found is not None:
            return _Hit(sha256, found)
    try:
        pixels = open_image(Path(entry.path), entry.frame).render()
        return _Ready(sha256, model.prepare_fresh(pixels))
    except RadcamError as exc:
        return _Failed(" ".join(str(exc).split()))
    except MemoryError:  # one huge image: the others still fit
        return _Failed(f"{entry.path}: not enough memory to decode it")


def _wait(future: Future[_Prepared], reporter: Reporter) -> _Prepared | None:
    """The decoder's result, or None when cancelled while waiting."""
    while True:
        try:
            return future.result(timeout=WAIT_S)
        except TimeoutError:
            if reporter.cancelled():
                return None


def _move_first(pending: deque[Entry], wanted: list[str]) -> None:
    """The entries named by `wanted` (in that order) to the front of the queue; done or decoding ones are left."""
    if not wanted or not pending:
        return
    index = {entry.id: entry for entry in pending}
    first = [index[entry_id] for entry_id in wanted if entry_id in index]
    if not first:
        return
    chosen = {entry.id for entry in first}
    rest = [entry for entry in pending if entry.id not in chosen]
    pending.clear()
    pending.extend(first + rest)


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "ResourceExhausted" in type(exc).__name__


class _Digests:
    """Each file hashed once per scan: every frame of a multi-frame file shares its digest."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> str:
        with self._lock:
            known = self._known.get(path)
        if known is None:
            known = content_sha256(path)
            with self._lock:
                self._known[path] = known
        return known


def scan_files(model: LoadedModel, paths: Sequence[Path], batch_size: int = BATCH_SIZE) -> int:
    """Pre-scan single-frame files without a worklist or cache (the benchmark's figure); how many were scored."""
    work = [Entry(str(number), str(path)) for number, path in enumerate(paths, 1)]
    return prescan(work, model, lambda entry_id, scores, sha256: None, batch_size=batch_size).scanned
