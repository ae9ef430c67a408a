"""`radcam-cli layers --model FILE`: the layers a CAM can target (spatial outputs), the default marked."""

from __future__ import annotations

import argparse
import json

from .model_options import add_model_options, load_model


def register(sub) -> None:
    parser = sub.add_parser("layers", help="list a model's layers with a spatial output (CAM targets)")
    add_model_options(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per layer")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.cam import CamEngine

    engine = CamEngine(load_model(args))
    for layer in engine.layers():
        size = "x".join(str(d) for d in layer.shape)
        if args.json:
            print(json.dumps({"name": layer.name, "shape": list(layer.shape), "kind": layer.kind,
                              "default": layer.is_default}))
        else:
            print(f"{'*' if layer.is_default else ' '} {layer.name:<32} {size:<14} {layer.kind}")
    return 0
