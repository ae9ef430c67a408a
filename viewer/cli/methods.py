"""`radcam-cli methods`: every CAM method with a one-line description and whether it needs gradients."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    parser = sub.add_parser("methods", help="list the CAM methods")
    parser.add_argument("--json", action="store_true", help="one JSON object per method")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.cam import METHODS

    for info in METHODS.values():
        if args.json:
            print(json.dumps({"name": info.name, "description": info.description,
                              "needs_gradients": info.needs_gradients, "resolution": info.resolution}))
        else:
            gradients = "yes" if info.needs_gradients else "no"
            print(f"{info.name:<16} gradients: {gradients:<3}  {info.description}")
    return 0
