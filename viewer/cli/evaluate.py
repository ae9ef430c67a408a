"""`radcam-cli evaluate PATH... | --demo`: can the maps be trusted? Faithfulness (deletion/insertion AUC, average
drop, ROAD), the model-randomisation sanity check, the pointing game for a box, and the same measures for a random
and an edge map, then one verdict per map from them all (viewer.trust.verdict) — one JSON line per image and
method with --json, else a table per image (trust_tables.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from viewer.errors import CamError, RadcamError
from viewer.export.names import printable

from . import trust_tables
from .model_options import Failures, Progress, add_model_options, load_model
from .paths import expand, input_paths, non_negative_int, positive_int
from .predict import ahead

GRID_PANEL_PX = 512  # longest side of each panel of the --method all grid: 12 full-size 2048² overlays are 150 MB


def register(sub) -> None:
    parser = sub.add_parser("evaluate", help="how far each map can be trusted: faithfulness, sanity check, "
                                             "pointing game, against random and edge baselines")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="DICOM file, image, folder or DICOMDIR")
    parser.add_argument("--demo", action="store_true",
                        help="report over fresh synthetic phantoms with known lesions instead of PATHs")
    parser.add_argument("--count", type=positive_int, metavar="N", help="phantoms for --demo (default 100)")
    add_model_options(parser)
    cam = parser.add_argument_group("explanation")
    cam.add_argument("--method", metavar="NAME|all",
                     help="CAM method, or 'all' to compare every method (default gradcam; --demo: all)")
    cam.add_argument("--target", metavar="NAME|INDEX", help="class to explain (default: the top-scoring one)")
    cam.add_argument("--layer", help="target layer (default: the last spatial layer)")
    cam.add_argument("--frame", type=non_negative_int, default=0, help="frame index (multi-frame files)")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                        help="threads decoding the next images while one is evaluated (default: the CPU count)")
    measures = parser.add_argument_group("measures")
    measures.add_argument("--box", type=parse_box, metavar="X,Y,W,H",
                          help="lesion box in image pixels: adds the pointing game and the energy in the box")
    measures.add_argument("--tolerance", type=float, metavar="PX",
                          help="pointing-game tolerance in image pixels (default 15, Zhang et al. 2016; --demo: "
                               "4 px of the 256-px phantom, as tests/test_cam_demo.py)")
    measures.add_argument("--steps", type=positive_int, default=16, metavar="K",
                          help="deletion/insertion steps (default 16)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="one JSON object per image and method (--demo: per method)")
    out.add_argument("--out", type=Path, default=Path("radcam-out"), metavar="DIR",
                     help="folder for the --method all grid STEM_methods.png (default ./radcam-out)")
    out.add_argument("--overwrite", action="store_true", help="replace a grid that exists")
    parser.set_defaults(run=run)


def parse_box(text: str) -> tuple[int, int, int, int]:
    """`X,Y,W,H` in pixels → (x, y, w, h); x, y at least 0, w, h at least 1."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"box must be X,Y,W,H in whole pixels (e.g. 300,550,110,110), "
                                         f"not {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"box must be four numbers X,Y,W,H, not {text!r}")
    if min(values[:2]) < 0 or min(values[2:]) < 1:
        raise argparse.ArgumentTypeError(f"box {text}: X and Y must be 0 or more, W and H 1 or more")
    return values


def _methods(name: str | None, default: str) -> list[str]:
    from viewer.cam import METHODS, resolve_method

    name = name or default
    return list(METHODS) if name.strip().lower() == "all" else [resolve_method(name)]


def run(args: argparse.Namespace) -> int:
    if args.tolerance is not None and not args.tolerance >= 0:
        raise RadcamError(f"--tolerance must be 0 or more pixels, not {args.tolerance}")
    if args.demo:
        for given, option in ((args.paths, "PATH"), (args.box, "--box"), (args.target, "--target")):
            if given:
                raise RadcamError(f"--demo measures each phantom against its own lesion; drop {option}")
        return _run_demo(args, _methods(args.method, "all"))
    if args.count is not None:
        raise RadcamError("--count is the number of phantoms for --demo")
    return _run_images(args, input_paths(args), _methods(args.method, "gradcam"))


def _run_demo(args: argparse.Namespace, methods: list[str]) -> int:
    from viewer.cam import CamEngine
    from viewer.trust import RandomisedModel
    from viewer.trust.class_report import demo_classes
    from viewer.trust.phantoms import demo_report

    from .class_table import class_table

    count = args.count or 100
    start = time.perf_counter()
    model = load_model(args)
    engine = CamEngine(model)
    classes_too = model.n_outputs > 1  # a model with one output unit has no classes to tell apart
    bar = Progress(2 * count if classes_too else count)  # the one-lesion phantoms, then the two-lesion ones
    summaries, failed = demo_report(engine, methods, count, steps=args.steps, randomised=RandomisedModel(model),
                                    tolerance=args.tolerance, layer=args.layer,
                                    reporter=_PhantomBar(bar, count))
    classes, class_failed = demo_classes(engine, methods, count, tolerance=args.tolerance, layer=args.layer,
                                         reporter=_PhantomBar(bar, count)) if classes_too else ({}, {})
    seconds = time.perf_counter() - start
    for method, reason in failed.items():
        print(f"radcam: skipped {method}: {' '.join(reason.split())}", file=sys.stderr)
    for method, reason in class_failed.items():
        if method not in failed:
            print(f"radcam: skipped {method} on the two-lesion phantoms: {' '.join(reason.split())}", file=sys.stderr)
    if args.json:
        for summary in summaries:
            extra = {"classes": classes[summary.name].to_dict()} if summary.name in classes else {}
            print(json.dumps({"phantoms": count, **summary.to_dict(), **extra}), flush=True)
    else:
        print(trust_tables.demo_table(summaries, count, model.name, args.steps, seconds))
        if classes:
            print("\n" + class_table(classes, count))
    return 0


def _run_images(args: argparse.Namespace, paths: list[Path], methods: list[str]) -> int:
    from viewer.cam import CamEngine
    from viewer.export.explanation import refuse_existing
    from viewer.io import open_image
    from viewer.trust import RandomisedModel

    from .explain import _make_folder, _stems

    files = expand(paths)
    stems = _stems(files, args.frame, anonymize=False)
    grids = [args.out / f"{stem}_methods.png" for stem in stems] if len(methods) > 1 else []
    if grids:
        _make_folder(args.out)
        refuse_existing(grids, args.overwrite)  # before any work, so a refusal costs nothing
    model = load_model(args)
    engine = CamEngine(model)
    randomised = RandomisedModel(model)
    progress = Progress(len(files))
    failures = Failures(len(files), "evaluated", debug=getattr(args, "debug", False))
    def decode(path: Path):
        image = open_image(path, frame=args.frame)
        return image, image.render()

    pool = ThreadPoolExecutor(args.workers, thread_name_prefix="radcam-decode")
    try:
        _evaluate_all(args, methods, files, grids, ahead(pool, decode, files, 2), engine, randomised, failures,
                      progress)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    failures.check()
    return 0


def _evaluate_all(args, methods, files, grids, decoded, engine, randomised, failures, progress) -> None:
    """Each image's evaluation in input order, its decoding done ahead by the pool; a bad image fails alone."""
    model = engine.model
    for i, (path, future) in enumerate(zip(files, decoded, strict=True)):
        try:
            image, base = future.result()
            lines, shown = _evaluate(args, engine, randomised, image, base, methods)
            if grids:
                _write_grid(grids[i], image.path, base, shown, lines, model.name, args.overwrite)
        except RadcamError as exc:
            failures.report(exc)
            progress.step(str(path))
            continue
        except Exception as exc:  # noqa: BLE001 — a bug met on this image: said, and the batch goes on
            failures.report_internal(printable(path), exc, printable(str(exc)))
            progress.step(str(path))
            continue
        if args.json:
            for line in lines:
                print(json.dumps(line), flush=True)
        else:
            print(trust_tables.image_table(lines, args.box), flush=True)
        progress.step(str(path))


def _evaluate(args, engine, randomised, image, base, methods: list[str]) -> tuple[list[dict], dict]:
    """JSON lines (one per method) for one image, and {method: CamResult} of the maps that could be made."""
    from viewer.trust import DEFAULT_TOLERANCE, assess, box_mask, score_baselines
    from viewer.trust.verdict import judge_report, no_map

    region = box_mask(base.shape, args.box) if args.box else None
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    common = {"image": printable(image.path), "frame": image.frame, "model": engine.model.name}
    lines, shown, baselines = [], {}, None
    for method in methods:
        start = time.perf_counter()
        try:
            result = engine.explain(base, method, target=args.target, layer=args.layer)
        except CamError as exc:
            if len(methods) == 1:
                raise
            why = " ".join(str(exc).split())
            lines.append({**common, "method": method, "error": why, **no_map(why)})
            continue
        found = assess(engine, base, result, randomised=randomised, region=region, tolerance=tolerance,
                       steps=args.steps)
        seconds = time.perf_counter() - start
        if baselines is None:  # the same target for every method: scored once per image
            baselines = {name: scores.to_dict() for name, scores in score_baselines(
                engine, base, result.target, region=region, tolerance=tolerance, steps=args.steps).items()}
        shown[method] = result
        line = {**common, "method": method, "layer": result.layer, "target": result.target.as_dict(),
                "empty_map": result.empty, **found.to_dict(), "baselines": baselines, "seconds": round(seconds, 3)}
        lines.append({**line, **judge_report(line)})
    return lines, shown


def _write_grid(path: Path, source: Path, base, shown: dict, lines: list[dict], model_name: str,
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


class _PhantomBar:
    """demo_report's reporter: one step of the bar per phantom; a command line is never cancelled."""

    def __init__(self, bar, count: int) -> None:
        self.bar, self.count = bar, count

    def progress(self, fraction: float) -> None:
        self.bar.step(f"phantom {round(fraction * self.count)}")

    def cancelled(self) -> bool:
        return False
