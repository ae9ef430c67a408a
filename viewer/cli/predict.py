"""`radcam-cli predict PATH... [--csv FILE]`: the model's outputs for every image, as CSV (folders recursively)."""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from viewer.errors import RadcamError

from .cluster_options import add_ray_options, model_args
from .domain import add_domain_option
from .model_options import Failures, add_model_options, load_model
from .naming import Names, add_key_file_option, check_key_file
from .outcomes import said
from .paths import add_input, expand, input_paths, positive_int

BATCH = 32  # viewer.app.batch_predict.BATCH (not imported here: the app layer would load before --help)


def register(sub) -> None:
    parser = sub.add_parser("predict", help="score images with the model; CSV with one column per label")
    add_input(parser, many=True)
    add_model_options(parser)
    add_domain_option(parser)
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write the CSV here (default: stdout)")
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH, metavar="N",
                        help=f"images per model call (default {BATCH})")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                        help="threads decoding images while the model scores earlier ones (default: the CPU count)")
    parser.add_argument("--anonymize", action="store_true",
                        help="no source path or name in the CSV or on stderr: image N is radcam_NNN (input order)")
    add_key_file_option(parser)
    add_ray_options(parser, "the CSV is written here, by this process")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.app.batch import ImageTask
    from viewer.app.batch_predict import PredictOptions

    check_key_file(args)
    roots = input_paths(args)
    names = Names(args.anonymize, roots)
    try:
        files = expand(roots, names)
        labels = [names.image(path, f"radcam_{i:03d}") for i, path in enumerate(files, 1)]
    finally:
        names.named()  # the listing's log records, said now that its files have their pseudonyms
    if args.csv is not None and args.csv.exists() and not args.overwrite:
        raise RadcamError(f"{args.csv} exists; use --overwrite to replace it")
    if args.csv is not None and not args.csv.parent.is_dir():  # before the work, not after hours of it on a cluster
        raise RadcamError(f"cannot write {args.csv}: folder {args.csv.parent} does not exist")
    tasks = [ImageTask(i, path, label, label) for i, (path, label) in enumerate(zip(files, labels, strict=True))]
    options = PredictOptions(strict_domain=args.strict_domain, anonymize=args.anonymize)
    model: dict[str, Any] = {}  # what the CSV header needs: the labels and the output kind
    if args.ray is not None:  # each actor loads its own model: none here
        from viewer.app.cluster import resolve_address, run_ray

        outcomes = run_ray(model_args(args), options, tasks, address=resolve_address(args.ray),
                           actors=args.ray_actors, batch=args.batch_size, work="predict",
                           pool_ready=lambda pool: model.update(pool.model))
    else:
        from viewer.app.batch_predict import run_local

        loaded = load_model(args)
        model.update(labels=loaded.labels, output_kind=loaded.output_kind)
        outcomes = run_local(loaded, options, tasks, batch=args.batch_size, workers=args.workers)
    rows, failures = _rows(args, outcomes, len(files), names)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    # Raw outputs are written as the model gives them: a logits head's columns say so.
    suffix = " (logit)" if model["output_kind"] == "logits" else ""
    # Last column: why an image is outside the model's domain (empty inside), as the warning lines say.
    writer.writerow(["path", *(label + suffix for label in model["labels"]), "out_of_domain"])
    writer.writerows(rows)
    if args.csv is None:
        sys.stdout.write(text.getvalue())
    else:
        from viewer.export import atomic_write

        atomic_write(args.csv, lambda temporary: temporary.write_text(text.getvalue(), encoding="utf-8"),
                     args.overwrite)
    failures.check()  # after the CSV: the images that could be scored are in it
    return 0


def _rows(args: argparse.Namespace, outcomes, total: int, names: Names) -> tuple[list[list[str]], Failures]:
    """The CSV's rows in input order (local or Ray: the same), each image's warning or error line on stderr as its
    turn comes, and the key file even when the run ends early."""
    failures = Failures(total, "scored", debug=getattr(args, "debug", False))
    rows: list[list[str]] = []
    try:
        with closing(said(outcomes, failures, names.clean)) as scored:
            for outcome in scored:
                if outcome.line is not None:
                    line = outcome.line
                    rows.append([outcome.label, *map(_number, line["scores"]), "; ".join(line["out_of_domain"])])
    finally:
        names.write_key(args.key_file, args.overwrite)
    return rows, failures


def _number(value) -> str:
    return f"{float(value):.6g}"
