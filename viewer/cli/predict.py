"""`radcam-cli predict PATH... [--csv FILE]`: the model's outputs for every image, as CSV (folders recursively)."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

from viewer.errors import ModelError, RadcamError

from .domain import add_domain_option, check_domain
from .modeling import Failures, Progress, add_model_options, load_model
from .paths import add_input, expand, input_paths, positive_int

BATCH = 32


def register(sub) -> None:
    parser = sub.add_parser("predict", help="score images with the model; CSV with one column per label")
    add_input(parser, many=True)
    add_model_options(parser)
    add_domain_option(parser)
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write the CSV here (default: stdout)")
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH, metavar="N",
                        help=f"images per model call (default {BATCH})")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.export import atomic_write
    from viewer.io import open_image

    files = expand(input_paths(args))
    if args.csv is not None and args.csv.exists() and not args.overwrite:
        raise RadcamError(f"{args.csv} exists; use --overwrite to replace it")
    model = load_model(args)
    rows: list[list] = []
    progress = Progress(len(files))
    failures = Failures(len(files), "scored")
    pending: list[tuple[Path, np.ndarray, list[str]]] = []  # path, model input, out-of-domain reasons

    def flush() -> None:
        if pending:
            scores = model.predict(np.concatenate([x for _, x, _ in pending]))
            for (path, _, domain), row in zip(pending, scores):
                try:
                    model.check_output(row)
                except ModelError as exc:
                    failures.report(ModelError(f"{path}: {exc}"))
                    continue
                rows.append([str(path), *map(_number, row), "; ".join(domain)])
            pending.clear()

    for path in files:
        try:
            image = open_image(path)
            domain = check_domain(image, model, str(path), args.strict_domain)
            pending.append((path, model.prepare(image.render()), domain))
        except RadcamError as exc:
            failures.report(exc)
        if len(pending) >= args.batch_size:
            flush()
        progress.step(str(path))
    flush()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    # Raw outputs are written as the model gives them: a logits head's columns say so.
    suffix = " (logit)" if model.output_kind == "logits" else ""
    # Last column: why an image is outside the model's domain (empty inside), as the warning lines say.
    writer.writerow(["path", *(label + suffix for label in model.labels), "out_of_domain"])
    writer.writerows(rows)
    if args.csv is None:
        sys.stdout.write(text.getvalue())
    else:
        atomic_write(args.csv, lambda temporary: temporary.write_text(text.getvalue(), encoding="utf-8"),
                     args.overwrite)
    failures.check()
    return 0


def _number(value) -> str:
    return f"{float(value):.6g}"
