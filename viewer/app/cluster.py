"""Batch explanation on a Ray cluster: one model per actor, chunks of images streamed to an actor pool with
back-pressure, results back in input order, a chunk whose actor died retried on another (no Qt; Ray imported lazily,
the default install does not have it)."""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from viewer.errors import RadcamError
from viewer.stderr_capture import capture_fd2

from .batch import BatchSpec, ImageOutcome, ImageTask, explain_chunk

IN_FLIGHT = 2  # chunks per actor: one computing, one queued behind it, so an actor never waits on the driver
ATTEMPTS = 3  # a chunk that kills its actor this often (an image that exhausts a worker's memory) fails alone
LOCAL = "local"
ADDRESS_VARIABLE = "RADCAM_RAY_ADDRESS"
NOT_INSTALLED = "Ray is not installed: pip install 'radcam[cluster]'"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RadcamError(NOT_INSTALLED) from None
    return ray


def resolve_address(given: str) -> str:
    """--ray's address: the one given, else (a bare --ray) RADCAM_RAY_ADDRESS, else a local cluster."""
    if given != LOCAL:
        return given
    return os.environ.get(ADDRESS_VARIABLE) or LOCAL


def connect(address: str) -> bool:
    """Join the cluster at `address` ("local": start one here); True when this process started Ray (it then shuts
    it down). Ray's own logging goes through the root logger (the CLI sends that to --log), never to stdout."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    # "local" always starts a new cluster (never joins one a `ray start` left on this machine, live or stale: use
    # `--ray auto` to join it).
    options: dict[str, Any] = {"address": address, "log_to_driver": False, "configure_logging": False}
    if address == LOCAL:
        options["include_dashboard"] = False  # a setting of the cluster's head, not of a driver joining one
    # ray.init puts its own SIGTERM handler in (exit at once, or kill the local cluster and exit 1): the CLI's
    # handler stays, so SIGTERM unwinds like Ctrl+C (work stopped, whole sets, the cluster shut down, exit 143).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        with capture_fd2():  # Ray's native start-up notices: stderr is for progress and the one error line
            ray.init(**options)
    except Exception as exc:  # noqa: BLE001 — any failure to reach or start the cluster is one clear line
        raise RadcamError(f"cannot reach the Ray cluster at {address}: {_first_line(exc)}") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return True


class Explainer:
    """A Ray actor's body: its own model (loaded on first use, again after a restart) and explain_chunk."""

    def __init__(self, model_args: dict[str, Any], spec: BatchSpec):
        self.model_args = model_args
        self.spec = spec
        self.engine: Any = None
        self.pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None

    def ready(self) -> tuple[int, str | None]:
        """(this worker's PID, None) once the model is loaded, or (PID, the one-line reason it cannot be)."""
        try:
            self._engine()
        except RadcamError as exc:
            return os.getpid(), str(exc)
        return os.getpid(), None

    def explain(self, tasks: list[ImageTask], retried: bool) -> list[ImageOutcome]:
        # A retried chunk may have been half-written by the actor that died: its complete sets stay as they are.
        spec = dataclasses.replace(self.spec, resume=True, overwrite=False) if retried else self.spec
        if self.pools is None:
            workers = max(1, int(ray_cpus())) if not _holds_gpu() else os.cpu_count() or 1  # a GPU's feeders
            self.pools = (ThreadPoolExecutor(workers, thread_name_prefix="radcam-decode"),
                          ThreadPoolExecutor(workers, thread_name_prefix="radcam-encode"))
        return explain_chunk(self._engine(), spec, tasks, *self.pools)

    def _engine(self) -> Any:
        if self.engine is None:
            if not _holds_gpu():
                # TensorFlow sizes its thread pools to the machine, not to the CPUs Ray gave this actor: CPU actors
                # that share a node would oversubscribe it.
                threads = str(max(1, int(ray_cpus())))
                os.environ.setdefault("TF_NUM_INTRAOP_THREADS", threads)
                os.environ.setdefault("TF_NUM_INTEROP_THREADS", threads)
            from viewer.cam import CamEngine
            from viewer.model import load_model

            self.engine = CamEngine(load_model(**self.model_args))
        return self.engine


@dataclasses.dataclass
class _Chunk:
    number: int
    tasks: list[ImageTask]
    retried: bool = False
    attempts: int = 0


def placement(resources: dict[str, float], actors: int | None) -> tuple[int, dict[str, int]]:
    """How many actors and what each holds: a GPU each where the cluster has GPUs, else a CPU each; as many as the
    cluster holds unless `actors` says. More than it holds would wait for ever: refused."""
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    kind, capacity = ("GPU", gpus) if gpus else ("CPU", cpus)
    count = actors or max(1, capacity)
    if count > capacity:
        raise RadcamError(f"{count} Ray actors asked for, but the cluster has {capacity} {kind}s (one each)")
    return count, {"num_gpus": 1} if gpus else {"num_cpus": 1}


class Pool:
    """Actors and the chunks in flight on each; `pids` for whoever must find a worker (tests kill one)."""

    def __init__(self, ray: Any, model_args: dict[str, Any], spec: BatchSpec, actors: int | None):
        self.ray = ray
        count, options = placement(ray.cluster_resources(), actors)
        remote = ray.remote(max_restarts=-1, max_task_retries=0, **options)(Explainer)  # we retry, and count
        run = secrets.token_hex(3)
        self.actors = [remote.options(name=f"radcam-{run}-{i}").remote(model_args, spec) for i in range(count)]
        self.load = [0] * count
        self.pids: list[int] = []
        try:
            started = ray.get([actor.ready.remote() for actor in self.actors])
        except ray.exceptions.RayError as exc:  # a worker that could not start (its Python, its memory)
            cause = getattr(exc, "cause", None) or exc  # a task's error: what was raised in the worker
            raise RadcamError(f"a Ray worker could not load the model: {type(cause).__name__}: "
                              f"{_first_line(cause)}") from None
        for pid, error in started:
            if error:
                raise RadcamError(error)
            self.pids.append(pid)

    def submit(self, chunk: _Chunk, avoid: int | None) -> tuple[Any, int]:
        free = [i for i, load in enumerate(self.load) if load < IN_FLIGHT]
        others = [i for i in free if i != avoid] or free
        index = min(others, key=lambda i: self.load[i])
        self.load[index] += 1
        return self.actors[index].explain.remote(chunk.tasks, chunk.retried), index

    def has_room(self) -> bool:
        return any(load < IN_FLIGHT for load in self.load)

    def stop(self, refs: Sequence[Any], grace_s: float = 30.0) -> None:
        """The actors gone; on Ctrl+C (`refs` in flight) the chunks not yet started are cancelled and those under
        way given `grace_s` to finish their images (whole sets) before their actors are killed."""
        for ref in refs:
            try:
                self.ray.cancel(ref)
            except Exception:  # noqa: BLE001 — already finished or its actor already gone
                pass
        if refs:
            self.ray.wait(list(refs), num_returns=len(refs), timeout=grace_s)
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)


def run_ray(model_args: dict[str, Any], spec: BatchSpec, tasks: Sequence[ImageTask], *, address: str | None,
            actors: int | None, batch: int, pool_ready: Any = None) -> Iterator[ImageOutcome]:
    """Each task's outcome, in input order, explained by an actor pool on the Ray cluster at `address` (None: a
    local one); `model_args` are load_model's (path, unsafe, overrides): each actor loads its own model.
    `pool_ready(pool)` is called once the actors have their models (tests find the workers' PIDs there)."""
    ray = import_ray()
    said_out = Path(spec.out)  # as the user gave it, in what is printed; the workers get it whole (their own cwd)
    spec = dataclasses.replace(spec, out=said_out.resolve())
    tasks = [dataclasses.replace(task, path=Path(task.path).resolve()) for task in tasks]
    since = time.time() - 1  # what this run may have left behind is newer (a file system's coarse mtimes)
    started = connect(address or LOCAL)
    pool: Pool | None = None
    in_flight: dict[Any, tuple[_Chunk, int]] = {}
    retried = 0
    stopped = False
    try:
        pool = Pool(ray, model_args, spec, actors)
        if pool_ready is not None:
            pool_ready(pool)
        waiting: deque[tuple[_Chunk, int | None]] = deque((_Chunk(n, list(tasks[i:i + batch])), None)
                        for n, i in enumerate(range(0, len(tasks), max(1, batch))))
        done: dict[int, list[ImageOutcome]] = {}
        following = 0
        while waiting or in_flight:
            while waiting and pool.has_room():
                chunk, avoid = waiting.popleft()
                ref, index = pool.submit(chunk, avoid)
                in_flight[ref] = (chunk, index)
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                chunk, index = in_flight.pop(ref)
                pool.load[index] -= 1
                try:
                    done[chunk.number] = _said(ray.get(ref), chunk, spec, said_out)
                except ray.exceptions.RayActorError:  # the actor died (killed, out of memory): Ray restarts it
                    retried += len(chunk.tasks)
                    chunk = dataclasses.replace(chunk, retried=True, attempts=chunk.attempts + 1)
                    if chunk.attempts < ATTEMPTS:
                        waiting.appendleft((chunk, index))
                    else:
                        done[chunk.number] = [_lost(task) for task in chunk.tasks]
                except ray.exceptions.RayTaskError as exc:  # a bug outside explain_chunk's per-image guard
                    done[chunk.number] = [_broken(task, exc, spec) for task in chunk.tasks]
            while following in done:
                yield from done.pop(following)
                following += 1
        summary = f"radcam: {len(tasks)} images, {retried} retried after an actor was lost"
        print(summary, file=sys.stderr, flush=True)
    except BaseException:
        stopped = True
        raise
    finally:
        if pool is not None:
            pool.stop(list(in_flight) if stopped else [])  # the actors go now, not when their handles are collected
        if retried or stopped:
            _remove_leftovers(Path(spec.out), since)
        if started:
            ray.shutdown()


def _remove_leftovers(out: Path, since: float) -> None:
    """What an actor killed mid-write left in the output folder (explain_chunk's `.radcam-*` staging folders,
    viewer.export.atomic's `.NAME.TOKEN.partSUFFIX`), once no actor writes any more; only what this run made, and
    only where this driver sees the folder (a shared file system). Complete sets stay."""
    for left in [*out.glob(".radcam-*"), *out.glob(".*.????????.part*")]:
        try:
            if left.stat().st_mtime < since:
                continue
            if left.is_dir():
                shutil.rmtree(left, ignore_errors=True)
            else:
                left.unlink(missing_ok=True)
        except OSError:
            continue


def _said(outcomes: list[ImageOutcome], chunk: _Chunk, spec: BatchSpec, said_out: Path) -> list[ImageOutcome]:
    """The outputs named in the output folder as the user gave it (as a local run names them); a retried chunk's
    images that the lost actor had written whole are not written again: said so."""
    from viewer.export.names import printable

    for outcome in outcomes:
        outcome.written = [said_out / path.name for path in outcome.written]
        if outcome.line is not None and "outputs" in outcome.line:
            outcome.line["outputs"] = [printable(path) for path in outcome.written]
        if outcome.skipped and chunk.retried and not spec.resume:
            outcome.warnings.append(f"radcam: {outcome.label}: written whole before its Ray actor was lost; "
                                    "not written again (its JSON line is not repeated)")
    return outcomes


def _broken(task: ImageTask, exc: Exception, spec: BatchSpec) -> ImageOutcome:
    """An image of a chunk that raised in its worker: an internal error in one line (Ray's message is the remote
    traceback, kept for --debug), said like explain_chunk's own."""
    cause = getattr(exc, "cause", None) or exc
    detail = "" if spec.anonymize else _first_line(cause)  # a library's message may quote the header
    said = f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__
    return ImageOutcome(index=task.index, label=task.label, line=None, written=[], error=said, internal=True,
                        skipped=False, trace=str(exc))


def _lost(task: ImageTask) -> ImageOutcome:
    return ImageOutcome(index=task.index, label=task.label, line=None, written=[], skipped=False, internal=False,
                        error=f"{task.label}: its Ray worker died {ATTEMPTS} times while explaining it")


def _holds_gpu() -> bool:
    return bool(import_ray().get_runtime_context().get_assigned_resources().get("GPU"))


def ray_cpus() -> float:
    """The CPUs Ray gave this actor (its decode and encode threads): 1 unless the cluster says otherwise."""
    ray = import_ray()
    return float(ray.get_runtime_context().get_assigned_resources().get("CPU", 1) or 1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def measure_start_s() -> float:
    """Seconds to start a local Ray (bench and README figure)."""
    ray = import_ray()
    start = time.perf_counter()
    connect(LOCAL)
    elapsed = time.perf_counter() - start
    ray.shutdown()
    return elapsed
