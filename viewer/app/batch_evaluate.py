"""`evaluate` over many images, one chunk at a time: each image decoded in parallel threads, then every measure of
each method's map (viewer.trust) and, for several methods, the grid STEM_methods.png. A bad image fails alone: its
outcome carries the error. `evaluate_chunk` is the one unit: the local runner (`run_local`) and a Ray actor
(viewer.app.cluster_actor) call it. Nothing here prints."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewer.errors import CamError, RadcamError
from viewer.export.names import printable

from .batch_spec import ImageOutcome, ImageTask
from .batch_stream import model_lock, stream

GRID_PANEL_PX = 512  # longest side of each panel of the --method all grid: 12 full-size 2048² overlays are 150 MB
RAY_BATCH = 2  # images per chunk sent to an actor: each takes dozens of model passes, so small chunks balance


@dataclass(frozen=True)
class EvaluateOptions:
    methods: tuple[str, ...]
    target: Any = None
    layer: str | None = None
    box: tuple[int, int, int, int] | None = None  # the lesion box: the pointing game and the energy in it
    tolerance: float | None = None  # the pointing game's, in image pixels (None: the default)
    steps: int = 16  # deletion/insertion steps
    frame: int = 0
    out: Path = Path("radcam-out")  # the grids' folder
    grids: bool = False  # STEM_methods.png for each image (several methods)
    overwrite: bool = False
    anonymize: bool = False  # evaluate has no --anonymize; the cluster's error lines read it


def grid_path(options: EvaluateOptions, stem: str) -> Path:
    return Path(options.out) / f"{stem}_methods.png"


def evaluate_chunk(engine: Any, randomised: Any, tasks: Sequence[ImageTask], options: EvaluateOptions,
                   pool: Executor | None = None, *, stop: threading.Event | None = None,
                   written_since: float | None = None) -> list[ImageOutcome]:
    """The outcomes of `tasks`, in their order: `line` is {"lines": one JSON object per method}, `written` the grid.
    `written_since` (a retried chunk on Ray): a grid newer than that was written whole by the actor that was lost,
    and is not written again."""
    from viewer.io import open_image

    def decode(task: ImageTask) -> Any:
        try:
            image = open_image(task.path, frame=options.frame)
            return image, image.render()
        except Exception as exc:  # noqa: BLE001 — said in the image's outcome, in its turn
            return exc

    owned = ThreadPoolExecutor() if pool is None else None
    try:
        decoded = list((pool or owned or ThreadPoolExecutor()).map(decode, tasks))
    finally:
        if owned is not None:
            owned.shutdown(wait=True)
    outcomes = []
    for task, found in zip(tasks, decoded, strict=True):
        if stop is not None and stop.is_set():
            break
        outcomes.append(_outcome(engine, randomised, task, found, options, written_since))
    return outcomes


def run_local(engine: Any, randomised: Any, options: EvaluateOptions, tasks: Sequence[ImageTask], *,
              workers: int | None = None) -> Iterator[ImageOutcome]:
    """Every task's outcome in input order, the next image decoding while one is evaluated."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix="radcam-decode")
    try:
        yield from stream(lambda chunk, stop: evaluate_chunk(engine, randomised, chunk, options, pool, stop=stop),
                          tasks, 1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _outcome(engine: Any, randomised: Any, task: ImageTask, found: Any, options: EvaluateOptions,
             written_since: float | None) -> ImageOutcome:
    try:
        if isinstance(found, Exception):
            raise found
        image, base = found
        with model_lock(engine):
            lines, shown = evaluate_image(engine, randomised, task.label, image, base, options)
        written = []
        if options.grids:
            path = grid_path(options, task.stem)
            if not (written_since is not None and path.is_file() and path.stat().st_mtime >= written_since):
                write_grid(path, image.path, base, shown, lines, engine.model.name, options.overwrite)
            written.append(path)
    except RadcamError as exc:
        return ImageOutcome(task.index, task.label, None, [], str(exc), False, False)
    except Exception as exc:  # noqa: BLE001 — a bug met on this image: said, and the batch goes on
        detail = "" if options.anonymize else printable(str(exc))
        said = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        return ImageOutcome(task.index, task.label, None, [], said, True, False, trace=traceback.format_exc())
    return ImageOutcome(task.index, task.label, {"lines": lines}, written, None, False, False)


def evaluate_image(engine: Any, randomised: Any, name: str, image: Any, base: Any,
                   options: EvaluateOptions) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """JSON lines (one per method) for one image called `name`, and {method: CamResult} of the maps made."""
    from viewer.trust import DEFAULT_TOLERANCE, assess, box_mask, score_baselines
    from viewer.trust.verdict import judge_report, no_map

    methods = options.methods
    region = box_mask(base.shape, options.box) if options.box else None
    tolerance = DEFAULT_TOLERANCE if options.tolerance is None else options.tolerance
    common = {"image": name, "frame": image.frame, "model": engine.model.name}
    lines: list[dict[str, Any]] = []
    shown: dict[str, Any] = {}
    baselines = None
    for method in methods:
        start = time.perf_counter()
        try:
            result = engine.explain(base, method, target=options.target, layer=options.layer)
        except CamError as exc:
            if len(methods) == 1:
                raise
            why = " ".join(str(exc).split())
            lines.append({**common, "method": method, "error": why, **no_map(why)})
            continue
        found = assess(engine, base, result, randomised=randomised, region=region, tolerance=tolerance,
                       steps=options.steps)
        seconds = time.perf_counter() - start
        if baselines is None:  # the same target for every method: scored once per image
            baselines = {name: scores.to_dict() for name, scores in score_baselines(
                engine, base, result.target, region=region, tolerance=tolerance, steps=options.steps).items()}
        shown[method] = result
        line = {**common, "method": method, "layer": result.layer, "target": result.target.as_dict(),
                "empty_map": result.empty, **found.to_dict(), "baselines": baselines, "seconds": round(seconds, 3)}
        lines.append({**line, **judge_report(line)})
    return lines, shown


def write_grid(path: Path, source: Path, base: Any, shown: dict[str, Any], lines: list[dict[str, Any]], model_name: str,
               overwrite: bool) -> None:
    """Every method's overlay (default overlay style) beside the original, titled with its verdict."""
    from viewer.export import method_title, save_image
    from viewer.render import compose_grid, fit_within, overlay

    verdicts = {line["method"]: line for line in lines if "error" not in line}
    panels = [("Original", fit_within(base, GRID_PANEL_PX))]
    for method, result in shown.items():
        line = verdicts[method]
        title = f"{method_title(method)}  {line['verdict']}"
        panels.append((title, fit_within(overlay(base, result.cam), GRID_PANEL_PX)))
    target = next(iter(shown.values())).target.name if shown else "-"
    header = f"{printable(Path(source).name)} · target {target} · model {model_name}"
    caption = ("faithful: beats the random and edge maps under blur deletion and ROAD, and changes when the "
               "model's top layers are re-initialised\nnot-faithful: a baseline beats it · inconclusive: the "
               "measures disagree or one did not run · model-independent: it fails that sanity check")
    save_image(path, compose_grid(panels, header=header, caption=caption), overwrite=overwrite)
