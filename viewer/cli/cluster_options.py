"""`--ray [ADDRESS]` and `--ray-actors N`: the same batch on a Ray cluster (viewer.app.cluster), one model per actor."""

from __future__ import annotations

import argparse
from typing import Any

from .paths import positive_int

OUT_AS_WORKERS_SEE_IT = "outputs go to --out as the workers see it (a shared file system on a multi-node cluster)"


def add_ray_options(parser: argparse.ArgumentParser, outputs: str = OUT_AS_WORKERS_SEE_IT) -> None:
    """`outputs`: where the command's files go on a cluster, for the help."""
    group = parser.add_argument_group("cluster")
    group.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                       help="run on a Ray cluster: ADDRESS (host:6379, ray://host:10001, or auto: the one 'ray "
                            "start' runs on this machine), else RADCAM_RAY_ADDRESS, else a new local Ray for the run; "
                            f"{outputs}; the images are read where the workers see them (a shared file system on a "
                            "multi-node cluster); needs pip install 'radcam[cluster]'")
    group.add_argument("--ray-actors", type=positive_int, metavar="N",
                       help="actors, one model each (default: one per GPU of the cluster, else one per CPU)")


def model_args(args: argparse.Namespace) -> dict[str, Any]:
    """What load_model needs, for each actor to load its own model (model_options.load_model's arguments)."""
    from viewer.model import default_model_path

    overrides = {"preprocess": args.preprocess, "interpolation": args.interpolation, "labels": args.labels,
                 "output": args.model_output}
    return {"path": (args.model or default_model_path()).resolve(), "unsafe": args.unsafe_model,
            "overrides": overrides}
