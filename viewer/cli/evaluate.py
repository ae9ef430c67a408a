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
from contextlib import closing
from pathlib import Path

from viewer.errors import RadcamError
from viewer.export.names import printable

from . import trust_tables
from .cluster_options import add_ray_options, model_args
from .model_options import Failures, Progress, add_model_options, load_model
from .outcomes import said
from .paths import expand, input_paths, non_negative_int, positive_int


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
    add_ray_options(parser, "the JSON lines and tables are printed here, the grids go to --out as the workers see it")
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
        if args.ray is not None:
            raise RadcamError("--ray evaluates PATHs; --demo runs on this machine: drop --ray")
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
    from viewer.app.batch import ImageTask
    from viewer.app.batch_evaluate import RAY_BATCH, EvaluateOptions, grid_path
    from viewer.export.explanation import refuse_existing

    from .explain import _make_folder, _stems

    files = expand(paths)
    stems = _stems(files, args.frame, anonymize=False)
    options = EvaluateOptions(methods=tuple(methods), target=args.target, layer=args.layer, box=args.box,
                              tolerance=args.tolerance, steps=args.steps, frame=args.frame, out=args.out,
                              grids=len(methods) > 1, overwrite=args.overwrite)
    if options.grids:
        _make_folder(args.out)
        refuse_existing([grid_path(options, stem) for stem in stems], args.overwrite)  # before any work
    tasks = [ImageTask(i, path, stem, printable(path)) for i, (path, stem) in enumerate(zip(files, stems,
                                                                                             strict=True))]
    if args.ray is not None:  # each actor loads its own model: none here
        from viewer.app.cluster import resolve_address, run_ray

        outcomes = run_ray(model_args(args), options, tasks, address=resolve_address(args.ray),
                           actors=args.ray_actors, batch=RAY_BATCH, work="evaluate")
    else:
        from viewer.app.batch_evaluate import run_local
        from viewer.cam import CamEngine
        from viewer.trust import RandomisedModel

        model = load_model(args)
        outcomes = run_local(CamEngine(model), RandomisedModel(model), options, tasks, workers=args.workers)
    _say(args, outcomes, len(tasks))
    return 0


def _say(args: argparse.Namespace, outcomes, total: int) -> None:
    """Each image's JSON lines or table, or its one error line, in input order (local or Ray: the same)."""
    failures = Failures(total, "evaluated", debug=getattr(args, "debug", False))
    with closing(said(outcomes, failures, str)) as evaluated:
        for outcome in evaluated:
            if args.json:
                for line in outcome.line["lines"]:
                    print(json.dumps(line), flush=True)
            else:
                print(trust_tables.image_table(outcome.line["lines"], args.box), flush=True)
    failures.check()


class _PhantomBar:
    """demo_report's reporter: one step of the bar per phantom; a command line is never cancelled."""

    def __init__(self, bar, count: int) -> None:
        self.bar, self.count = bar, count

    def progress(self, fraction: float) -> None:
        self.bar.step(f"phantom {round(fraction * self.count)}")

    def cancelled(self) -> bool:
        return False
