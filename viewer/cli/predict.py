"""`radcam-cli predict PATH... [--csv FILE]`: the model's outputs for every image, as CSV (folders recursively)."""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                        help="threads decoding images while the model scores earlier ones (default: the CPU count)")
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

    def decode(path: Path):
        image = open_image(path)
        return image, image.render()

    pool = ThreadPoolExecutor(args.workers, thread_name_prefix="radcam-decode")
    try:
        for label, decoded in zip(labels, ahead(pool, decode, files, 2 * args.batch_size), strict=True):
            try:
                image, base = decoded.result()
                domain = check_domain(image, model, label, args.strict_domain, args.anonymize)
                pending.append((label, model.prepare(base), domain))
            except RadcamError as exc:
                failures.report(names.error(exc))
            except Exception as exc:  # noqa: BLE001 — a bug met on this image: said, and the batch goes on
                failures.report_internal(label, exc, names.detail(exc))
            if len(pending) >= args.batch_size:
                flush()
            progress.step(label)
        flush()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
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


def ahead(pool: Executor, work: Callable[[Path], Any], items: list[Path], window: int) -> Iterator[Future]:
    """`work` of each item on `pool`, in order, at most `window` ahead of the consumer: decoding runs in parallel
    while memory stays bounded on a folder of 100,000 images."""
    queued: deque[Future] = deque()
    for item in items:
        queued.append(pool.submit(work, item))
        if len(queued) > window:
            yield queued.popleft()
    yield from queued


def _number(value) -> str:
    return f"{float(value):.6g}"
