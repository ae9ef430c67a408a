"""`radcam-cli info PATH`: one JSON object describing a study file (or a folder's studies) on stdout."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from viewer.errors import NoImageError, StudyError
from viewer.export.names import printable_tree
from viewer.io import load, open_image
from viewer.io.presentation import presentations_beside, read_presentation

from .paths import add_input, input_paths, non_negative_int


def register(sub) -> None:
    parser = sub.add_parser("info", help="print a study's metadata and windows as JSON")
    add_input(parser)
    parser.add_argument("--frame", type=non_negative_int, default=0, help="frame index (multi-frame files)")
    parser.set_defaults(run=run)


def image_info(path: Path, frame: int = 0) -> dict:
    try:
        image = open_image(path, frame=frame)
    except NoImageError:
        try:  # a presentation state holds no image: what it is and which images it annotates
            return {**read_presentation(path).summary(), "path": str(path), "kind": "presentation_state"}
        except StudyError:
            pass
        raise
    meta = dict(image.metadata)
    return {
        **meta,
        "path": str(path),
        "kind": image.kind,
        "frame": image.frame,
        "frames": image.frames,
        "windows": [w.as_dict() for w in image.windows],
        "default_window": image.default_window.as_dict(),
        "inverted": bool(image.invert),
        # the presentation states (GSPS) beside the file that annotate it, as the viewer draws them when opened with it
        "presentation_states": [state.summary() for state in presentations_beside(path, meta.get("sop_instance_uid"))
                                if state.applies_to(meta.get("sop_instance_uid"), image.frame)],
    }


def folder_info(path: Path) -> dict:
    result = load([path])
    return {
        "path": str(path),
        "kind": "folder" if path.is_dir() else "dicomdir",
        "studies": [study.summary() for study in result.studies],
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in result.skipped],
    }


def run(args: argparse.Namespace) -> int:
    (path,) = input_paths(args)
    is_collection = path.is_dir() or path.name.upper() == "DICOMDIR"
    info = folder_info(path) if is_collection else image_info(path, args.frame)
    # Strict JSON: a NaN or infinite number read from a file (a spacing, a value some library passes on) is null, never
    # the NaN/Infinity tokens JSON parsers reject; a file name that is not UTF-8 shows its odd bytes as \xNN (as every
    # other CLI line does), never as a lone surrogate ('\udcfc') that UTF-8 readers refuse.
    print(json.dumps(strict(printable_tree(info)), default=str, allow_nan=False))
    return 0


def strict(value):
    """`value` with every non-finite float (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return value
