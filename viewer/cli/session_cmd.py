"""`radcam-cli session new PATH... --model FILE --out S.radcam-session`: a review session prepared headless.

Builds the worklist (one entry per image or frame), runs the pre-scan (every image scored, batched; scores kept
in the prediction cache, so preparing again is instant) and writes the session file with the model (path, SHA-256,
labels, decision thresholds, sidecar) and the map settings, ready to hand to readers. stdout: one JSON line
(entries, scanned, cached, failed, seconds); stderr: progress, and one line per file skipped or not scored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from viewer.errors import RadcamError, UsageError
from viewer.export.names import printable
from viewer.render.defaults import DEFAULTS
from viewer.stderr_capture import python_stderr_apart

from .model_options import Progress
from .paths import positive_int, unit_interval


def register(sub) -> None:
    parser = sub.add_parser("session", help="prepare review sessions (see 'radcam-cli session new --help')")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    new = actions.add_parser(
        "new", help="a worklist of the images, every image scored by the model, as a .radcam-session file to hand "
                    "to readers", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Prepare a review session headless: list the images (one entry per image or frame), score "
                    "every one\nwith the model (batched; scores kept in a cache, so preparing again is instant) and "
                    "write the\nsession file with the model's digest, labels, thresholds and the map settings. "
                    "Readers open it in\nthe viewer (radcam S.radcam-session) and report on it with "
                    "'radcam-cli report'.",
        epilog="stdout: one JSON line (session, entries, scanned, cached, failed, skipped, seconds).\n"
               "stderr: progress, one line per file skipped or image not scored (the session keeps it, unscored).\n"
               "exit status: 0 written; 2 bad input (one 'radcam: error:' line, nothing written).\n\n"
               "example:\n  radcam-cli session new /data/study --model chest.keras --out week12.radcam-session "
               "--reader 'Dr A'")
    new.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                     help="DICOM file, image (PNG/JPEG/TIFF/BMP), folder or DICOMDIR")
    new.add_argument("--model", type=Path, metavar="FILE", required=True, help=".keras or full-model .h5 file")
    new.add_argument("--unsafe-model", action="store_true",
                     help="allow a model whose loading runs code (Lambda layers); only for files you trust")
    new.add_argument("--out", type=Path, metavar="S.radcam-session", required=True, help="the session file to write")
    new.add_argument("--overwrite", action="store_true", help="replace the session file if it exists")
    new.add_argument("--reader", default="", metavar="NAME",
                     help="the reader it is for (default: none; whoever opens it first)")
    new.add_argument("--method", default="gradcam", help="CAM method readers see (default gradcam)")
    new.add_argument("--layer", help="target layer (default: the model's, recorded so every reader sees the same)")
    new.add_argument("--threshold", type=unit_interval, default=DEFAULTS.cam_threshold, metavar="T",
                     help=f"CAM threshold of the overlay, 0..1 (default {DEFAULTS.cam_threshold:g})")
    new.add_argument("--batch-size", type=positive_int, default=16, metavar="N",
                     help="images per model call (default 16)")
    new.add_argument("--no-cache", action="store_true", help="score every image again (ignore the prediction cache)")
    new.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.app.prediction_cache import PredictionCache, content_sha256
    from viewer.app.prescan import prescan
    from viewer.app.review import SUFFIX, ReviewSession, SessionSettings
    from viewer.app.review_file import SessionFile
    from viewer.app.worklist import entries_from
    from viewer.cam import resolve_method
    from viewer.io import load

    started = time.perf_counter()
    out = _out_path(args.out, args.overwrite, SUFFIX)
    method = resolve_method(args.method)  # a typo fails before TensorFlow loads
    model_path = _model_path(args.model)
    for path in args.paths:
        if not path.exists():
            raise RadcamError(f"{path}: no such file or folder")
    result = load(list(args.paths))
    for skipped in result.skipped:
        print(f"radcam: skipped {printable(skipped.path)}: {printable(' '.join(skipped.reason.split()))}",
              file=sys.stderr)
    entries = entries_from(result)
    if not entries:
        raise RadcamError(f"no images found in {', '.join(map(str, args.paths))} ({len(result.skipped)} file(s) "
                          "skipped)")
    loaded = _load_model(model_path, args.unsafe_model)
    layer = _layer(loaded, args.layer)
    digest = content_sha256(model_path)
    cache = None if args.no_cache else PredictionCache.for_model(digest, loaded.spec.as_dict(), loaded.output_index)
    for said in (cache.replaced, cache.warning) if cache is not None else ():
        if said:
            print(f"radcam: warning: {said}", file=sys.stderr)
    progress = Progress(len(entries))
    labels = {entry.id: entry.path + (f" frame {entry.frame}" if entry.frame else "") for entry in entries}

    def failed(entry_id: str, reason: str) -> None:
        print(f"radcam: not scored: {printable(reason)}", file=sys.stderr, flush=True)  # a name's escapes
        progress.step(labels[entry_id])

    by_id = {entry.id: entry for entry in entries}

    def scored(entry_id: str, scores: dict[str, float], sha256: str | None) -> None:
        by_id[entry_id].predictions, by_id[entry_id].sha256 = scores, sha256
        progress.step(labels[entry_id])

    try:
        with python_stderr_apart():  # the decoder threads move fd 2 to catch native messages
            scan = prescan(entries, loaded, scored, cache=cache, batch_size=args.batch_size, on_failed=failed)
    finally:
        if cache is not None:
            cache.close()
    session = ReviewSession(entries, _session_model(loaded, model_path, digest),
                            SessionSettings(method, layer, args.threshold), reader=args.reader)
    session.current = entries[0].id
    SessionFile.create(out, session, args.reader, overwrite=args.overwrite).release()  # prepared: readers lock it
    summary = {"session": str(out), "entries": len(entries), **scan.summary(), "skipped": len(result.skipped),
               "model": loaded.name, "seconds": round(time.perf_counter() - started, 3),
               "prescan_seconds": round(scan.seconds, 3)}
    print(json.dumps(summary))
    return 0


def _out_path(out: Path, overwrite: bool, suffix: str) -> Path:
    target = out if out.name.endswith(suffix) else out.with_name(out.name + suffix)
    if target.is_dir():
        raise UsageError(f"--out {target} is a folder; give a file name ending in {suffix}")
    if target.exists() and not overwrite:
        raise UsageError(f"{target} exists; use --overwrite to replace it")
    from viewer.app.review_lock import locked_by

    holder = locked_by(target)  # before minutes of pre-scan, not after
    if holder:
        raise RadcamError(holder)
    if not target.absolute().parent.is_dir():
        raise UsageError(f"cannot write {target}: folder {target.absolute().parent} does not exist")
    return target


def _model_path(path: Path) -> Path:
    if not path.exists():
        raise UsageError(f"--model {path}: no such file")
    return path.absolute()


def _load_model(path: Path, unsafe: bool) -> Any:
    from viewer.model import load_model

    return load_model(path, unsafe=unsafe)


def _layer(loaded: Any, wanted: str | None) -> str | None:
    """The layer every reader's map is made at: the one asked for (checked), else the model's default."""
    from viewer.cam import CamEngine
    from viewer.errors import CamError

    try:
        layers = CamEngine(loaded).layers()
    except CamError:  # no spatial layer: only guided backprop applies
        layers = []
    names = [layer.name for layer in layers]
    if wanted is None:
        return next((layer.name for layer in layers if layer.is_default), None)
    if wanted not in names:
        raise UsageError(f"--layer {wanted!r} is not a spatial layer of {loaded.name}; "
                         f"see 'radcam-cli layers --model FILE' ({', '.join(names[-3:]) or 'none'}...)")
    return str(wanted)


def _session_model(loaded: Any, path: Path, digest: str) -> Any:
    from viewer.app.review import SessionModel
    from viewer.model.spec import sidecar_path

    sidecar = None
    if sidecar_path(path).is_file():  # as read: load_model has validated it already
        sidecar = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    thresholds = {label: float(loaded.spec.thresholds.get(label, 0.5)) for label in loaded.labels}
    return SessionModel(str(path), digest, loaded.name, tuple(loaded.labels), thresholds, sidecar)
