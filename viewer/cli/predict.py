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
from .model_options import Failures, Progress, add_model_options, load_model
from .naming import Names, add_key_file_option, check_key_file
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
    parser.add_argument("--anonymize", action="store_true",
                        help="no source path or name in the CSV or on stderr: image N is radcam_NNN (input order)")
    add_key_file_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.export import atomic_write
    from viewer.io import open_image

    check_key_file(args)
    roots = input_paths(args)
    names = Names(args.anonymize, roots)
    files = expand(roots, names)
    if args.csv is not None and args.csv.exists() and not args.overwrite:
        raise RadcamError(f"{args.csv} exists; use --overwrite to replace it")
    labels = [names.image(path, f"radcam_{i:03d}") for i, path in enumerate(files, 1)]
    model = load_model(args)
    rows: list[list] = []
    progress = Progress(len(files))
    failures = Failures(len(files), "scored", debug=getattr(args, "debug", False))
    pending: list[tuple[str, np.ndarray, list[str]]] = []  # label, model input, out-of-domain reasons

    def flush() -> None:
        if pending:
            scores = model.predict(np.concatenate([x for _, x, _ in pending]))
            for (label, _, domain), row in zip(pending, scores, strict=True):
                try:
                    model.check_output(row)
                except ModelError as exc:
                    failures.report(ModelError(f"{label}: {names.clean(str(exc))}"))
                    continue
                rows.append([label, *map(_number, row), "; ".join(domain)])
            pending.clear()

    try:
        for path, label in zip(files, labels, strict=True):
            try:
                image = open_image(path)
                domain = check_domain(image, model, label, args.strict_domain, args.anonymize)
                pending.append((label, model.prepare(image.render()), domain))
            except RadcamError as exc:
                failures.report(names.error(exc))
            except Exception as exc:  # noqa: BLE001 — a bug met on this image: said, and the batch goes on
                failures.report_internal(label, exc, names.detail(exc))
            if len(pending) >= args.batch_size:
                flush()
            progress.step(label)
        flush()
    finally:
        names.write_key(args.key_file, args.overwrite)
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
