"""Argument helpers shared by the sub-commands: input paths, the demo studies, frames and windows."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from viewer.assets import demo_studies
from viewer.errors import RadcamError


def add_input(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    parser.add_argument("paths" if many else "path", nargs="*" if many else "?", metavar="PATH",
                        help="DICOM file, image (PNG/JPEG/TIFF/BMP), folder or DICOMDIR")
    parser.add_argument("--demo", action="store_true", help="use the embedded demo studies (synthetic)")


def input_paths(args: argparse.Namespace) -> list[Path]:
    given = getattr(args, "paths", None)
    if given is None:
        given = [args.path] if getattr(args, "path", None) else []
    if args.demo:
        if given:
            raise RadcamError("give either PATH or --demo, not both")
        demos = demo_studies()
        if not demos:
            raise RadcamError("the demo studies are missing from this installation (resources/demo)")
        return demos if hasattr(args, "paths") else demos[:1]
    if not given:
        raise RadcamError("no input: give a PATH or --demo")
    return [Path(p) for p in given]


def parse_window(text: str):
    """`CENTER,WIDTH` → (center, width); width at least 1, as DICOM's LINEAR window requires (PS3.3 C.11.2.1.2)."""
    try:
        center_text, width_text = text.split(",")
        center, width = float(center_text), float(width_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"window must be CENTER,WIDTH (e.g. 40,400), not {text!r}") from None
    for name, value, given in (("centre", center, center_text), ("width", width, width_text)):
        if not math.isfinite(value):  # float() takes 'nan', 'inf' and overflows like '1e400': all render black
            raise argparse.ArgumentTypeError(f"window {name} must be a finite number, not {given.strip()}")
    if not width >= 1:
        raise argparse.ArgumentTypeError(f"window width must be at least 1, not {width_text.strip()}")
    return center, width


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, not {value}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, not {value}")
    return value


def unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, not {text}")
    return value


def expand(paths: list[Path], names=None) -> list[Path]:
    """Files to process, in order: files as given, folders (recursively) and DICOMDIRs through the study loader
    in study → series → instance order. What a folder held that is not an image is named on stderr, one line each,
    as `names` (viewer.cli.naming.Names: printable, or pseudonyms under --anonymize) calls it."""
    from viewer.io import load

    from .naming import Names

    names = names or Names()

    files: list[Path] = []
    for path in paths:
        if path.is_dir() or path.name.upper() == "DICOMDIR":
            result = load([path])
            files += [instance.path for study in result.studies for series in study.series
                      for instance in series.instances]
            for skipped in result.skipped:
                label = names.skipped(skipped.path)
                print(f"radcam: skipped {label}: {names.clean(skipped.reason)}", file=sys.stderr)
            if not result.studies:
                raise RadcamError(f"{names.of(path)}: no images found ({len(result.skipped)} file(s) skipped)")
        else:
            files.append(path)
    return files
