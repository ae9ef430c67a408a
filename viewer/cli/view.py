"""`radcam-cli view PATH --out FILE.png`: write exactly the 8-bit image the viewer shows by default."""

from __future__ import annotations

import argparse
from pathlib import Path

from viewer.export import save_image
from viewer.io import Window, open_image

from .paths import add_input, input_paths, non_negative_int, parse_window


def register(sub) -> None:
    parser = sub.add_parser("view", help="render a study as the viewer shows it and save it as an image")
    add_input(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="output .png/.jpg/.tif")
    parser.add_argument("--frame", type=non_negative_int, default=0, help="frame index (multi-frame files)")
    parser.add_argument("--window", type=parse_window, metavar="CENTER,WIDTH",
                        help="window centre and width in modality units (default: the file's first, else auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    (path,) = input_paths(args)
    image = open_image(path, frame=args.frame)
    window = None
    if args.window is not None:
        center, width = args.window
        window = Window(center=center, width=width, explanation="command line")
    pixels = image.render(window=window)
    save_image(args.out, pixels, overwrite=args.overwrite)
    return 0
