"""The out-of-domain guard of explain and predict: a warning line per image outside the model's `expects`
(viewer.model.domain), or a per-image error under --strict-domain."""

from __future__ import annotations

import argparse
import sys

from viewer.errors import RadcamError


def add_domain_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict-domain", action="store_true",
                        help="an image outside the model's domain (the sidecar's 'expects'; CT, MR, PT, NM, US for a "
                             "model that declares nothing) is an error for that image, not a warning")


def check_domain(image, model, name: str, strict: bool, anonymize: bool = False) -> list[str]:
    """The reasons `image` is outside `model`'s domain ([] inside), after a warning line on stderr; a RadcamError
    (that image's error: the batch goes on, the exit status is 2) under `strict`.

    `name` is how the image is called in the line: its path, or its pseudonym under --anonymize. The reasons quote
    the header's codes (body part, view position); under `anonymize` the patient's name, ID and birth date are
    masked in them wherever they are printed or written (the line, the JSON, the sidecar, the CSV)."""
    from viewer.model.domain import image_out_of_domain

    reasons = image_out_of_domain(image, model.spec.expects)
    if anonymize:
        from viewer.export.anonymize import mask_patient

        reasons = mask_patient(reasons, image.metadata)
    if reasons:
        text = "; ".join(reasons)
        if strict:
            raise RadcamError(f"{name}: out of domain: {text} (--strict-domain)")
        print(f"radcam: warning: {name}: out of domain: {text}", file=sys.stderr, flush=True)
    return reasons
