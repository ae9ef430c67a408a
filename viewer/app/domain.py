"""The out-of-domain guard of a batch (predict, explain): why an image is outside the model's `expects`
(viewer.model.domain), said as one warning line, or that image's error under strict."""

from __future__ import annotations

from typing import Any

from viewer.errors import RadcamError


def out_of_domain(image: Any, model: Any, name: str, strict: bool, anonymize: bool = False) -> tuple[list[str],
                                                                                                       str | None]:
    """(the reasons `image` is outside `model`'s domain, [] inside; the warning line for stderr, None inside). Under
    `strict` an image outside is a RadcamError: that image's error, the batch goes on.

    `name` is how the image is called in the line: its path, or its pseudonym under --anonymize. The reasons quote
    the header's codes (body part, view position); under `anonymize` the patient's name, ID and birth date are
    masked in them wherever they are printed or written (the line, the JSON, the sidecar, the CSV)."""
    from viewer.model.domain import image_out_of_domain

    reasons = image_out_of_domain(image, model.spec.expects)
    if anonymize:
        from viewer.export.anonymize import mask_patient

        reasons = mask_patient(reasons, image.metadata)
    if not reasons:
        return reasons, None
    text = "; ".join(reasons)
    if strict:
        raise RadcamError(f"{name}: out of domain: {text} (--strict-domain)")
    return reasons, f"radcam: warning: {name}: out of domain: {text}"
