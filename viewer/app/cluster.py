"""Batch work on a Ray cluster — explain, predict or evaluate: one model per actor (viewer.app.cluster_actor),
chunks of images streamed to an actor pool with back-pressure, results back in input order, a chunk whose actor died
retried on another (no Qt; Ray imported lazily, the default install does not have it)."""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from viewer.errors import RadcamError
from viewer.stderr_capture import capture_fd2

from .batch import BatchSpec, ImageOutcome, ImageTask
from .batch_budget import chunks
from .cluster_actor import NOT_INSTALLED, WORKS, Worker, import_ray

IN_FLIGHT = 2  # chunks per actor: one computing, one queued behind it, so an actor never waits on the driver
ATTEMPTS = 3  # a chunk that kills its actor this often (an image that exhausts a worker's memory) fails alone
LOCAL = "local"
ADDRESS_VARIABLE = "RADCAM_RAY_ADDRESS"
VERBS = {"explain": "explaining", "predict": "scoring", "evaluate": "evaluating"}
__all__ = ["NOT_INSTALLED", "Pool", "connect", "import_ray", "placement", "resolve_address", "run_ray"]


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
    try:
        with _signals_held(ray), capture_fd2():  # Ray's native start-up notices: stderr is for progress and errors
            ray.init(**options)
    except Exception as exc:  # noqa: BLE001 — any failure to reach or start the cluster is one clear line
        raise RadcamError(f"cannot reach the Ray cluster at {address}: {_first_line(exc)}") from None
    return True


@contextmanager
def _signals_held(ray: Any) -> Iterator[None]:
    """Ctrl+C and SIGTERM held while Ray starts, then the caller's handlers back and the signal said to them (Ray
    shut down first): raised inside ray.init, they left Ray half-made — exit 15 from the SIGTERM handler ray.init
    puts in, an abort or a segfault — instead of the CLI's clean stop (exit 130 or 143, the cluster shut down). The
    CLI's SIGTERM handler stays after the start too (so SIGTERM unwinds like Ctrl+C): Ray's is not put in."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, lambda signum, frame: held.append(signum))
    utils = sys.modules.get("ray._private.utils")
    rays = getattr(utils, "set_sigterm_handler", None)  # what ray.init puts its handler in with (Ray 2.x)
    if rays is not None:
        utils.set_sigterm_handler = lambda handler: None  # type: ignore[union-attr]
    try:
        yield
    finally:
        if rays is not None:
            utils.set_sigterm_handler = rays  # type: ignore[union-attr]
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if held:
            if ray.is_initialized():
                ray.shutdown()
            signal.raise_signal(held[0])  # the caller's handler: Terminated or KeyboardInterrupt, as anywhere


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

    def __init__(self, ray: Any, model_args: dict[str, Any], spec: Any, actors: int | None, work: str = "explain",
                 since: float = 0.0):
        self.ray = ray
        self.work = work  # the Worker method each chunk goes to
        count, options = placement(ray.cluster_resources(), actors)
        remote = ray.remote(max_restarts=-1, max_task_retries=0, **options)(Worker)  # we retry, and count
        run = secrets.token_hex(3)
        self.actors = [remote.options(name=f"radcam-{run}-{i}").remote(model_args, spec, work, since)
                       for i in range(count)]
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
        self.model: dict[str, Any] = ray.get(self.actors[0].describe.remote())  # labels, output kind, name

    def submit(self, chunk: _Chunk, avoid: int | None) -> tuple[Any, int]:
        free = [i for i, load in enumerate(self.load) if load < IN_FLIGHT]
        others = [i for i in free if i != avoid] or free
        index = min(others, key=lambda i: self.load[i])
        self.load[index] += 1
        return getattr(self.actors[index], self.work).remote(chunk.tasks, chunk.retried), index

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


def run_ray(model_args: dict[str, Any], spec: Any, tasks: Sequence[ImageTask], *, address: str | None,
            actors: int | None, batch: int, pool_ready: Any = None, work: str = "explain") -> Iterator[ImageOutcome]:
    """Each task's outcome, in input order, from an actor pool on the Ray cluster at `address` (None: a local one)
    doing `work` (explain: `spec` a BatchSpec; predict: PredictOptions; evaluate: EvaluateOptions); `model_args`
    are load_model's (path, unsafe, overrides): each actor loads its own model. `pool_ready(pool)` is called once
    the actors have their models (tests find the workers' PIDs there; predict its CSV header in `pool.model`)."""
    if work not in WORKS:
        raise ValueError(f"unknown batch work {work!r}")
    ray = import_ray()
    writes = hasattr(spec, "out")  # predict writes no file
    said_out = Path(spec.out if writes else ".")  # as the user gave it, in what is printed; the workers get it
    spec = dataclasses.replace(spec, out=said_out.resolve()) if writes else spec  # whole (their own cwd)
    given = {task.index: (str(Path(task.path).resolve()), str(task.path)) for task in tasks}  # as errors name them
    tasks = [dataclasses.replace(task, path=Path(task.path).resolve()) for task in tasks]
    since = _run_start(Path(spec.out)) if writes else time.time()
    started = connect(address or LOCAL)
    pool: Pool | None = None
    in_flight: dict[Any, tuple[_Chunk, int]] = {}
    retried = 0
    stopped = False
    try:
        pool = Pool(ray, model_args, spec, actors, work, since)
        if pool_ready is not None:
            pool_ready(pool)
        fresh = (_Chunk(n, chunk) for n, chunk in enumerate(chunks(tasks, batch)))  # by the pixel budget, lazily
        waiting: deque[tuple[_Chunk, int | None]] = deque()  # chunks to retry go before any new one
        done: dict[int, list[ImageOutcome]] = {}
        following = 0
        while True:
            while pool.has_room() and (waiting or _more(fresh, waiting)):
                chunk, avoid = waiting.popleft()
                ref, index = pool.submit(chunk, avoid)
                in_flight[ref] = (chunk, index)
            if not in_flight:
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                chunk, index = in_flight.pop(ref)
                pool.load[index] -= 1
                try:
                    done[chunk.number] = _as_given(_said(ray.get(ref), said_out), given)
                except ray.exceptions.RayActorError:  # the actor died (killed, out of memory): Ray restarts it
                    retried += len(chunk.tasks)
                    chunk = dataclasses.replace(chunk, retried=True, attempts=chunk.attempts + 1)
                    if chunk.attempts < ATTEMPTS:
                        waiting.appendleft((chunk, index))
                    else:
                        done[chunk.number] = [_lost(task, work) for task in chunk.tasks]
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
        if (retried or stopped) and writes:
            _remove_leftovers(Path(spec.out), since)
        if started:
            ray.shutdown()


def _run_start(out: Path) -> float:
    """When the run starts, by the clock that stamps the output folder's files: a shared file system's server stamps
    the actors' files, and may run seconds apart from this machine (a retried set taken for an older run's would be
    refused, or written twice under --overwrite). A file made there now is stamped by it; this machine's clock less a
    second (coarse mtimes) where the folder cannot be written yet."""
    try:
        with tempfile.NamedTemporaryFile(prefix=".radcam-start-", dir=out) as marker:
            return os.fstat(marker.fileno()).st_mtime
    except OSError:
        return time.time() - 1


def _remove_leftovers(out: Path, since: float) -> None:
    """What an actor killed mid-write left in the output folder (explain_chunk's `.radcam-*` staging folders,
    viewer.export.atomic's `.NAME.TOKEN.partSUFFIX`, and under --overwrite the earlier file it moved aside,
    `....partSUFFIX.old`), once no actor writes any more; only what this run made or moved (an older file moved aside
    keeps its mtime: its ctime says when), and only where this driver sees the folder (a shared file system).
    Complete sets stay."""
    for left in [*out.glob(".radcam-*"), *out.glob(".*.????????.part*")]:
        try:
            stat = left.stat()
            if max(stat.st_mtime, stat.st_ctime) < since:
                continue
            if left.is_dir():
                shutil.rmtree(left, ignore_errors=True)
            else:
                left.unlink(missing_ok=True)
        except OSError:
            continue


def _more(fresh: Iterator[_Chunk], waiting: deque[tuple[_Chunk, int | None]]) -> bool:
    """The next new chunk into `waiting` (its headers read now, while the actors work); False when none is left."""
    chunk = next(fresh, None)
    if chunk is not None:
        waiting.append((chunk, None))
    return chunk is not None


def _said(outcomes: list[ImageOutcome], said_out: Path) -> list[ImageOutcome]:
    """The outputs named in the output folder as the user gave it (as a local run names them)."""
    from viewer.export.names import printable

    for outcome in outcomes:
        outcome.written = [said_out / path.name for path in outcome.written]
        if outcome.line is not None and "outputs" in outcome.line:
            outcome.line["outputs"] = [printable(path) for path in outcome.written]
    return outcomes


def _broken(task: ImageTask, exc: Exception, spec: BatchSpec) -> ImageOutcome:
    """An image of a chunk that raised in its worker: an internal error in one line (Ray's message is the remote
    traceback, kept for --debug), said like explain_chunk's own."""
    cause = getattr(exc, "cause", None) or exc
    detail = "" if spec.anonymize else _first_line(cause)  # a library's message may quote the header
    said = f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__
    return ImageOutcome(index=task.index, label=task.label, line=None, written=[], error=said, internal=True,
                        skipped=False, trace=str(exc))


def _lost(task: ImageTask, work: str = "explain") -> ImageOutcome:
    return ImageOutcome(index=task.index, label=task.label, line=None, written=[], skipped=False, internal=False,
                        error=f"{task.label}: its Ray worker died {ATTEMPTS} times while {VERBS[work]} it")


def _as_given(outcomes: list[ImageOutcome], given: dict[int, tuple[str, str]]) -> list[ImageOutcome]:
    """Each error names its image's path as the user gave it (the workers got it resolved), as a local run's do: its
    own path only (every path of the run tried on every error was millions of searches on an archive)."""
    for outcome in outcomes:
        resolved, path = given[outcome.index]
        if outcome.error is not None and resolved != path:
            outcome.error = outcome.error.replace(resolved, path)
    return outcomes


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
