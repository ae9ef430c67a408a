"""`predict` over many images, one chunk at a time: each image decoded in parallel threads with its out-of-domain
check, the chunk scored in one batched model call, each row checked (check_output). A bad image fails alone: its
outcome carries the error. `predict_chunk` is the one unit: the local runner (`run_local`) and a Ray actor
(viewer.app.cluster_actor) call it. Nothing here prints."""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viewer.errors import ModelError, RadcamError
from viewer.export.names import printable

from .batch_spec import ImageOutcome, ImageTask
from .batch_stream import model_lock, stream
from .domain import out_of_domain

BATCH = 32  # images per model call (predict's --batch-size)


@dataclass(frozen=True)
class PredictOptions:
    strict_domain: bool = False  # an image outside the model's domain is an error for it, not a warning
    anonymize: bool = False  # no library message in an internal error's line: it may quote the header


@dataclass
class _Item:
    task: ImageTask
    x: Any = None  # the model input, (1, h, w, c)
    domain: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outcome: ImageOutcome | None = None


def predict_chunk(model: Any, tasks: Sequence[ImageTask], options: PredictOptions, pool: Executor | None = None, *,
                  stop: threading.Event | None = None) -> list[ImageOutcome]:
    """The outcomes of `tasks`, in their order: `line` is {"scores": the model's outputs (floats), "out_of_domain":
    the reasons}. `model` is a LoadedModel or an engine holding one (its `.model`); a pool is made when not given."""
    model = getattr(model, "model", model)
    owned = ThreadPoolExecutor() if pool is None else None
    items = [_Item(task) for task in tasks]

    def decode(item: _Item) -> None:
        _guarded(item, lambda: _decode(item, model, options), options, stop)

    try:
        list((pool or owned or ThreadPoolExecutor()).map(decode, items))
    finally:
        if owned is not None:
            owned.shutdown(wait=True)
    todo = [item for item in items if item.outcome is None]
    if not todo or (stop is not None and stop.is_set()):
        return [item.outcome for item in items if item.outcome is not None]
    with model_lock(model):
        try:
            rows = list(model.predict(np.concatenate([item.x for item in todo])))
        except Exception:  # noqa: BLE001 — one call per image below, so that the bad one fails alone
            rows = [None] * len(todo)
        for item, row in zip(todo, rows, strict=True):
            _guarded(item, functools.partial(_score, item, model, row), options, None)
    return [item.outcome for item in items if item.outcome is not None]


def run_local(model: Any, options: PredictOptions, tasks: Sequence[ImageTask], *, batch: int = BATCH,
              workers: int | None = None) -> Iterator[ImageOutcome]:
    """Every task's outcome in input order, a chunk decoding while the one before it is on the model."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix="radcam-decode")
    try:
        yield from stream(lambda chunk, stop: predict_chunk(model, chunk, options, pool, stop=stop), tasks, batch)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _decode(item: _Item, model: Any, options: PredictOptions) -> None:
    from viewer.io import open_image

    image = open_image(item.task.path)
    item.domain, warning = out_of_domain(image, model, item.task.label, options.strict_domain, options.anonymize)
    if warning is not None:
        item.warnings.append(warning)
    item.x = model.prepare(image.render())


def _score(item: _Item, model: Any, row: Any) -> None:
    if row is None:  # the chunk's call failed: this image alone
        row = model.predict(item.x)[0]
    try:
        model.check_output(row)
    except ModelError as exc:
        raise ModelError(f"{item.task.label}: {exc}") from None
    task = item.task
    line = {"scores": [float(value) for value in row], "out_of_domain": item.domain}
    item.outcome = ImageOutcome(task.index, task.label, line, [], None, False, False, item.warnings)


def _guarded(item: _Item, step: Callable[[], None], options: PredictOptions, stop: threading.Event | None) -> None:
    """`step` on one image; its error becomes its outcome and the chunk goes on."""
    if item.outcome is not None or (stop is not None and stop.is_set()):
        return
    task = item.task
    try:
        step()
    except RadcamError as exc:
        item.outcome = ImageOutcome(task.index, task.label, None, [], str(exc), False, False, item.warnings)
    except Exception as exc:  # noqa: BLE001 — a bug met on this image: said, and the batch goes on
        detail = "" if options.anonymize else printable(str(exc))  # a library's message may quote the header
        said = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        item.outcome = ImageOutcome(task.index, task.label, None, [], said, True, False, item.warnings,
                                    traceback.format_exc())
