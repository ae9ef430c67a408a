"""One chunk of a batch: its images decoded in parallel threads, explained in one batched model call, and written in
parallel threads, each image's files all or nothing. A bad image fails alone: its outcome carries the error."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viewer.errors import RadcamError
from viewer.export.names import printable

from .batch_spec import BatchSpec, ImageOutcome, ImageTask, planned_outputs
from .batch_stream import model_lock
from .domain import out_of_domain

Step = Callable[["_Work", Any, BatchSpec], None]


@dataclass
class _Work:
    """An image on its way through the chunk."""

    task: ImageTask
    files: list[Path] = field(default_factory=list)
    overwrite: bool = False
    image: Any = None
    base: Any = None
    domain: list[str] = field(default_factory=list)
    result: Any = None
    findings: Any = None
    load_ms: float = 0.0
    findings_ms: float = 0.0
    prepare: bool = False  # its model inputs made as it is decoded (the chunk goes to the model as one batch)
    inputs: Any = None  # (raw, x): engine.model.model_inputs of its base
    prepare_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)  # said before its line, or before its error
    stop: threading.Event | None = None  # the run's: set on Ctrl+C, SIGTERM or a single image's error
    defer: bool = False  # the set is left staged in the outcome, for the caller to commit
    recount: bool = False  # its set written whole by a lost Ray actor: its line again (the model), nothing written
    outcome: ImageOutcome | None = None  # set once the image is done (failed, skipped or written)


def explain_chunk(engine: Any, spec: BatchSpec, tasks: Sequence[ImageTask], decode_pool: Executor | None = None,
                  encode_pool: Executor | None = None, *, stop: threading.Event | None = None,
                  defer: bool = False, queued: threading.Event | None = None) -> list[ImageOutcome]:
    """The outcomes of `tasks`, in their order. Pools are made for the call when not given (a Ray actor's call).
    `defer`: each written image's set stays staged (outcome.staged) until the caller commits or discards it.
    `queued`: set once every image is queued for decoding (the local runner queues the next chunk's after it, so
    that the decode threads finish this chunk first and the model does not wait for both)."""
    owned = [ThreadPoolExecutor() for pool in (decode_pool, encode_pool) if pool is None]
    decode = decode_pool or owned[0]
    encode = encode_pool or owned[-1]
    try:
        try:
            prepare = _batched(engine, spec, len(tasks))
            works = [_Work(task, stop=stop, defer=defer, prepare=prepare) for task in tasks]
            decoding = [decode.submit(_guarded, work, _decode, engine, spec, stop) for work in works]
        finally:
            if queued is not None:
                queued.set()
        for future in decoding:
            future.result()
        with model_lock(engine):  # two chunks in flight share the model: one call at a time
            _explain(engine, spec, [work for work in works if work.outcome is None], stop, decode)
        list(encode.map(lambda work: _guarded(work, _recount if work.recount else _write, engine, spec, stop), works))
        return [work.outcome for work in works if work.outcome is not None]
    finally:
        for pool in owned:
            pool.shutdown(wait=True)


def _guarded(work: _Work, step: Step, engine: Any, spec: BatchSpec, stop: threading.Event | None) -> None:
    """`step` on one image; its error becomes its outcome and the chunk goes on."""
    if work.outcome is not None or (stop is not None and stop.is_set()):
        return
    try:
        step(work, engine, spec)
    except RadcamError as exc:
        work.outcome = _failed(work, str(exc))
    except Exception as exc:  # noqa: BLE001 — a bug met on this image: said, and the batch goes on
        detail = "" if spec.anonymize else printable(str(exc))  # a library's message may quote the header
        said = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        work.outcome = _failed(work, said, internal=True, trace=traceback.format_exc())


def _failed(work: _Work, error: str, internal: bool = False, trace: str = "") -> ImageOutcome:
    task = work.task
    return ImageOutcome(task.index, task.label, None, [], error, internal, False, work.warnings, trace)


def _decode(work: _Work, engine: Any, spec: BatchSpec) -> None:
    from viewer.export.dicom_objects import refuse_without_dicom
    from viewer.export.explanation import refuse_existing
    from viewer.io import open_image

    task = work.task
    work.files = planned_outputs(spec, task.stem)
    there = [path.exists() for path in work.files]
    ours = _newer(work.files, spec.retry_since)  # a retried chunk: the files its lost actor wrote
    work.recount = all(ours) and bool(ours)
    if spec.resume and all(there) and not work.recount:
        work.outcome = ImageOutcome(task.index, task.label, None, [], None, False, True)
        return
    # --resume redoes an image whose set is incomplete (its findings image missing after an interruption).
    work.overwrite = spec.overwrite or (spec.resume and any(there)) or any(ours)
    if not work.recount:
        refuse_existing(work.files, work.overwrite)  # before the model's time is spent on it
    t0 = time.perf_counter()
    work.image = open_image(task.path, frame=spec.frame)
    refuse_without_dicom(work.image, spec.dicom_objects, task.label)
    work.domain, warning = out_of_domain(work.image, engine.model, task.label, spec.strict_domain, spec.anonymize)
    if warning is not None:
        work.warnings.append(warning)
    work.base = work.image.render()
    work.image.release_pixels()  # `base` is what the model and the writer use: a 10,000² 16-bit film's 200 MB go now
    work.load_ms = (time.perf_counter() - t0) * 1e3
    if work.prepare:  # the resize to the model's input here, in this decode thread, as soon as the image is shown
        t0 = time.perf_counter()
        work.inputs = engine.model.model_inputs(work.base)
        work.prepare_ms = (time.perf_counter() - t0) * 1e3


def _batched(engine: Any, spec: BatchSpec, count: int) -> bool:
    """Whether the chunk's images go to the model in one shared pass (viewer.cam.batch), which takes their inputs
    made beforehand."""
    if count < 2 or getattr(engine, "explain_batch", None) is None:
        return False
    from viewer.cam.multi import SHARED_PASS
    from viewer.cam.registry import resolve_method

    try:
        return resolve_method(spec.method) in SHARED_PASS
    except Exception:  # noqa: BLE001 — an unknown method fails in the model's call, per image, as before
        return False


def _explain(engine: Any, spec: BatchSpec, works: list[_Work], stop: threading.Event | None,
             pool: Executor) -> None:
    """One batched call for the chunk; if it fails, one call per image so that the bad one fails alone."""
    if not works or (stop is not None and stop.is_set()):
        return
    options = {"method": spec.method, "target": spec.target, "layer": spec.layer, "top_n": spec.top_n,
               "batch_size": spec.batch_size, "reporter": _Stopping(stop)}
    explain_batch = getattr(engine, "explain_batch", None)  # viewer.cam.batch: the model on the whole chunk
    if explain_batch is not None and len(works) > 1:
        inputs = [work.inputs for work in works] if all(work.inputs is not None for work in works) else None
        try:  # resizes in the pool's threads unless the decode threads made the inputs
            results = explain_batch([work.base for work in works], **options, pool=pool, inputs=inputs)
            for work, result in zip(works, results, strict=True):
                result.timings_ms["preprocess"] = result.timings_ms.get("preprocess", 0.0) + work.prepare_ms
                work.result = result
        except Exception:  # noqa: BLE001 — said per image by the calls below
            pass
        for work in works:
            work.inputs = None
    for work in works:
        if work.result is None:
            _guarded(work, _explain_one(options), engine, spec, stop)
    for work in works:
        if spec.all_findings and work.outcome is None:
            _guarded(work, _findings, engine, spec, stop)


class _Stopping:
    """The model's reporter: a long Score-CAM over a chunk stops when the run is stopped (Ctrl+C) instead of being
    waited for; its images then fail, unseen."""

    def __init__(self, stop: threading.Event | None):
        self.stop = stop

    def progress(self, fraction: float) -> None:
        pass

    def cancelled(self) -> bool:
        return self.stop is not None and self.stop.is_set()


def _explain_one(options: dict[str, Any]) -> Step:
    def step(work: _Work, engine: Any, spec: BatchSpec) -> None:
        work.result = engine.explain(work.base, **options)

    return step


def _findings(work: _Work, engine: Any, spec: BatchSpec) -> None:
    from .batch_findings import findings_output

    t0 = time.perf_counter()
    work.findings = findings_output(engine, spec, work.base, work.result, work.task.stem, work.overwrite)
    work.findings_ms = (time.perf_counter() - t0) * 1e3


class Staged:
    """An image's files written whole into a hidden folder beside the outputs, waiting to be moved in as one set."""

    def __init__(self, folder: Path, staging: Path, files: list[Path], overwrite: bool):
        self.folder, self.staging, self.files, self.overwrite = folder, staging, files, overwrite
        self.targets = [folder / path.name for path in files]

    def commit(self) -> list[Path]:
        """Renamed into place all or none; SIGINT and SIGTERM wait until the renames are done."""
        import signal

        from viewer.errors import ExportError
        from viewer.export.atomic import StagedSet

        blocked = {signal.SIGINT, signal.SIGTERM}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            stage = StagedSet(self.targets, self.overwrite)
            try:
                for path, target in zip(self.files, self.targets, strict=True):
                    os.replace(path, stage.path(target))
            except OSError as error:
                stage.discard()
                raise ExportError(f"cannot write {self.folder}: {error.strerror or error}") from None
            stage.commit()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            self.discard()
        return self.targets

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _write(work: _Work, engine: Any, spec: BatchSpec) -> None:
    from viewer.export import ModelCard, write_explanation
    from viewer.export.dicom_objects import window_of

    t0 = time.perf_counter()
    model, result, extra = engine.model, work.result, work.findings
    # Written whole into a hidden folder beside the outputs, then moved in as one set (findings image included):
    # here, or by the local runner's main thread (`defer`) once the image's turn comes, so that Ctrl+C or SIGTERM,
    # which Python raises there, leaves every set complete or absent.
    staging = Path(tempfile.mkdtemp(prefix=".radcam-", dir=spec.out))
    try:
        staged = write_explanation(
            staging, work.task.stem, work.image, work.base, result, ModelCard.of(model), spec.style,
            panels=spec.panels, cam_array="cam" in spec.outputs, sidecar="json" in spec.outputs,
            dicom_panels=("overlay",) if "sc" in spec.outputs else (), dicom_objects=spec.dicom_objects,
            window=window_of(work.image), findings=extra.items if extra is not None else None,
            anonymize=spec.anonymize, out_of_domain=work.domain,
            png_compression=spec.png_compression)
        if extra is not None:
            staged.append(extra.write(staging))
        pending = Staged(Path(spec.out), staging, staged, work.overwrite)
        written = pending.targets if work.defer else pending.commit()
    except RadcamError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise type(exc)(str(exc).replace(str(staging), str(spec.out))) from None  # the name the user knows
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    render_ms = (time.perf_counter() - t0) * 1e3 + work.findings_ms
    work.outcome = ImageOutcome(work.task.index, work.task.label, _line(work, model, render_ms, written), written,
                                None, False, False, work.warnings, staged=pending if work.defer else None)


def _recount(work: _Work, engine: Any, spec: BatchSpec) -> None:
    """A set the lost actor wrote whole: the same line as a local run's (the model's numbers are deterministic),
    naming the files already there, written once."""
    line = _line(work, engine.model, work.findings_ms, work.files)
    work.outcome = ImageOutcome(work.task.index, work.task.label, line, list(work.files), None, False, False,
                                work.warnings)


def _newer(files: list[Path], since: float | None) -> list[bool]:
    """Which of `files` exist and are newer than `since` ([] when None)."""
    if since is None:
        return []
    stamps = []
    for path in files:
        try:
            stamps.append(path.stat().st_mtime >= since)
        except OSError:
            stamps.append(False)
    return stamps


def _line(work: _Work, model: Any, render_ms: float, written: list[Path]) -> dict[str, Any]:
    """The image's JSON line."""
    result, extra = work.result, work.findings
    line = {
        "image": work.task.label, "frame": work.image.frame, "model": model.name, "method": result.method,
        "layer": result.layer, "target": result.target.as_dict(),
        "predictions": result.predictions, "cam_shape": list(result.cam.shape), "empty": result.empty,
        "device": result.device, "out_of_domain": work.domain,
        "timings_ms": {"load": round(work.load_ms, 2),
                       "preprocess": round(result.timings_ms.get("preprocess", 0.0), 2),
                       "cam": round(result.timings_ms.get("cam", 0.0), 2), "render": round(render_ms, 2),
                       "model_load": 0.0},  # the caller fills it in on the first line: paid once
        "outputs": [printable(p) for p in written],
    }
    if extra is not None:
        line["findings"] = extra.rows
    return line
