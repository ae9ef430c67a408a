"""The body of a Ray actor of viewer.app.cluster: its own model (loaded once, again after a restart) and the three
kinds of batch work on a chunk of images — explain (batch_chunk.explain_chunk), predict (batch_predict.predict_chunk)
and evaluate (batch_evaluate.evaluate_chunk). Ray is imported lazily: the default install does not have it."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from viewer.errors import RadcamError

from .batch import ImageOutcome, ImageTask, explain_chunk

WORKS = ("explain", "predict", "evaluate")  # the methods run_ray may call, one per kind of batch work
NOT_INSTALLED = "Ray is not installed: pip install 'radcam[cluster]'"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RadcamError(NOT_INSTALLED) from None
    return ray


class Worker:
    """A Ray actor's body: `spec` says what every image gets (BatchSpec for explain, PredictOptions for predict,
    EvaluateOptions for evaluate); `work` names the method the driver calls."""

    def __init__(self, model_args: dict[str, Any], spec: Any, work: str = "explain", since: float = 0.0):
        self.model_args = model_args
        self.spec = spec
        self.work = work
        self.since = since  # when the run started: a retried chunk's files newer than this are the lost actor's
        self.engine: Any = None
        self.randomised: Any = None  # evaluate's model with re-initialised top layers (the sanity check)
        self.pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None

    def ready(self) -> tuple[int, str | None]:
        """(this worker's PID, None) once what the work needs is loaded, or (PID, the one-line reason it cannot be)."""
        try:
            engine = self._engine()
            if self.work == "evaluate" and self.randomised is None:
                from viewer.trust import RandomisedModel

                self.randomised = RandomisedModel(engine.model)
        except RadcamError as exc:
            return os.getpid(), str(exc)
        return os.getpid(), None

    def describe(self) -> dict[str, Any]:
        """What the driver prints that only the model knows (predict's CSV header)."""
        model = self._engine().model
        return {"name": model.name, "labels": list(model.labels), "output_kind": model.output_kind}

    def explain(self, tasks: list[ImageTask], retried: bool) -> list[ImageOutcome]:
        # A retried chunk may have been half-written by the actor that died: a set it wrote whole (newer than the
        # run's start) gets its line again, not its files; an older run's set is refused or overwritten as locally.
        spec = dataclasses.replace(self.spec, retry_since=self.since) if retried else self.spec
        return explain_chunk(self._engine(), spec, tasks, *self._pools())

    def predict(self, tasks: list[ImageTask], retried: bool) -> list[ImageOutcome]:
        from .batch_predict import predict_chunk

        return predict_chunk(self._engine().model, tasks, self.spec, self._pools()[0])  # writes nothing: redone

    def evaluate(self, tasks: list[ImageTask], retried: bool) -> list[ImageOutcome]:
        from .batch_evaluate import evaluate_chunk

        # A grid the lost actor wrote whole (newer than the run's start) is not written again.
        return evaluate_chunk(self._engine(), self.randomised, tasks, self.spec, self._pools()[0],
                              written_since=self.since if retried else None)

    def _pools(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        if self.pools is None:
            workers = max(1, int(ray_cpus())) if not _holds_gpu() else os.cpu_count() or 1  # a GPU's feeders
            self.pools = (ThreadPoolExecutor(workers, thread_name_prefix="radcam-decode"),
                          ThreadPoolExecutor(workers, thread_name_prefix="radcam-encode"))
        return self.pools

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


def _holds_gpu() -> bool:
    return bool(import_ray().get_runtime_context().get_assigned_resources().get("GPU"))


def ray_cpus() -> float:
    """The CPUs Ray gave this actor (its decode and encode threads): 1 unless the cluster says otherwise."""
    ray = import_ray()
    return float(ray.get_runtime_context().get_assigned_resources().get("CPU", 1) or 1)
