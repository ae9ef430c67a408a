"""The model options shared by explain, predict, evaluate and layers, loading the model they name, and the progress
and per-image errors of a command over several images."""

from __future__ import annotations

import argparse
import traceback
from pathlib import Path

from viewer.command_line import report_error
from viewer.errors import InternalBatchError

from .progress import Progress, clear_of_bars

__all__ = ["Failures", "Progress", "add_model_options", "load_model"]  # Progress: where the commands import it


def add_model_options(parser: argparse.ArgumentParser) -> None:
    from viewer.model.spec import INTERPOLATIONS, PREPROCESS_MODES

    group = parser.add_argument_group("model")
    group.add_argument("--model", type=Path, metavar="FILE",
                       help=".keras or full-model .h5 file (default: the embedded synthetic demo model)")
    group.add_argument("--unsafe-model", action="store_true",
                       help="allow a model whose loading runs code (Lambda layers); only for files you trust")
    group.add_argument("--preprocess", choices=PREPROCESS_MODES, help="overrides the model sidecar")
    group.add_argument("--interpolation", choices=INTERPOLATIONS,
                       help="how images are resized to the model input (default: antialias, see README)")
    group.add_argument("--labels", metavar="A,B,...", help="label names, in output order (overrides the sidecar)")
    group.add_argument("--model-output", metavar="NAME|INDEX",
                       help="which output of a several-output model is scored and explained (overrides the sidecar)")


def load_model(args: argparse.Namespace):
    """The LoadedModel the options name (TensorFlow is imported here, not before)."""
    from viewer.model import default_model_path, load_model as load

    path = args.model or default_model_path()
    overrides = {"preprocess": args.preprocess, "interpolation": args.interpolation, "labels": args.labels,
                 "output": args.model_output}
    return load(path, unsafe=args.unsafe_model, overrides=overrides)


class Failures:
    """Per-image errors of a command over several images: one line each on stderr, and the command goes on to the
    next image; with a single image the error is the command's own (raised: exit 2, one line)."""

    def __init__(self, total: int, verb: str, debug: bool = False):
        self.total = total
        self.verb = verb  # "explained", "scored", ...
        self.count = 0
        self.internal = 0
        self.debug = debug

    def report(self, exc) -> None:
        if self.total == 1:
            raise exc
        self.count += 1
        with clear_of_bars():
            report_error(exc)

    def report_internal(self, label: str, exc: Exception, detail: str) -> None:
        """A bug met on one image (`detail`: its message made clean by the caller, or '' to say nothing of it): said
        in one line, and the batch goes on to the next image; the command exits 1 at the end."""
        if self.debug:
            traceback.print_exc()
        said = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        message = f"{label}: internal error: {said} (run with --debug for the traceback)"
        if self.total == 1:
            raise InternalBatchError(message) from None
        self.count += 1
        self.internal += 1
        with clear_of_bars():
            report_error(message)

    def check(self) -> None:
        """RadcamError when any image failed: the exit status must say so."""
        from viewer.errors import RadcamError

        if self.internal:
            raise InternalBatchError(f"{self.count} of {self.total} images could not be {self.verb}, "
                                     f"{self.internal} by an internal error (reasons above)")
        if self.count:
            raise RadcamError(f"{self.count} of {self.total} images could not be {self.verb} (reasons above)")
