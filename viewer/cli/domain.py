"""--strict-domain of explain and predict: an image outside the model's `expects` is an error for it, not a warning
line (the check itself is the batch's: viewer.app.domain, viewer.app.batch_chunk)."""

from __future__ import annotations

import argparse


def add_domain_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict-domain", action="store_true",
                        help="an image outside the model's domain (the sidecar's 'expects'; CT, MR, PT, NM, US for a "
                             "model that declares nothing) is an error for that image, not a warning")

