"""Is an image inside the model's domain? The sidecar's `expects` checked against an image's metadata.

A chest X-ray model scores whatever array it is given: a CT slice, MR head frames or a test pattern get confident
"findings". `out_of_domain` says, in words, why an image is not what the model was made for; the CLI and the viewer
show the reasons. No Qt and no TensorFlow here.

Missing metadata is never a reason by itself: a PNG has no modality, body part or view position (an NIH
ChestX-ray14 PNG is the normal case), and many real chest DICOMs lack BodyPartExamined. What the file does not say
is not checked; what it says must fit. Size and colour are known for every image, so they are always checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from viewer.errors import ModelError

EXPECTS_KEYS = ("modalities", "body_parts", "view_positions", "min_size", "color")
COLOR_CHOICES = ("grey", "color", "any")
_COLOR_ALIASES = {"gray": "grey", "greyscale": "grey", "grayscale": "grey", "mono": "grey", "monochrome": "grey",
                  "colour": "color", "rgb": "color"}
# Scored meaninglessly by a projection-radiograph model; noticed even when a model declares nothing.
CROSS_SECTIONAL = ("CT", "MR", "PT", "NM", "US")
GREY_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2")
# A colour-encoded image is grey in content when its channels agree: a grey film saved as RGB (JPEG chroma
# noise stays far below SPREAD) or with a small coloured annotation (under COLOURED_FRACTION of the pixels).
SPREAD = 24
COLOURED_FRACTION = 0.01
_SAMPLE_PIXELS = 1 << 18  # channel agreement is judged on at most this many pixels (a regular subsample)


def validate_expects(value: Any, where: str) -> dict[str, Any]:
    """The sidecar's `expects` object, normalised (codes upper case, min_size as (rows, columns)); ModelError
    naming the sidecar and the key when something is wrong."""
    if not isinstance(value, Mapping):
        raise _bad(where, "expects", value, "an object with keys " + ", ".join(EXPECTS_KEYS))
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in EXPECTS_KEYS:
            raise ModelError(f"{where}: unknown key {key!r} in 'expects'; known keys: {', '.join(EXPECTS_KEYS)}")
        if item is None:
            continue
        if key in ("modalities", "body_parts", "view_positions"):
            if isinstance(item, str):
                item = [item]
            if (not isinstance(item, (list, tuple)) or not item
                    or not all(isinstance(v, str) and v.strip() for v in item)):
                raise _bad(where, f"expects.{key}", item, "a non-empty list of DICOM codes such as \"CR\"")
            out[key] = [_code(v) for v in item]
        elif key == "min_size":
            if isinstance(item, int) and not isinstance(item, bool):
                item = [item, item]
            if (not isinstance(item, (list, tuple)) or len(item) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65535 for v in item)):
                raise _bad(where, "expects.min_size", item, "[rows, columns], integers from 1 to 65535")
            out[key] = (int(item[0]), int(item[1]))
        else:
            colour = _COLOR_ALIASES.get(item.lower(), item.lower()) if isinstance(item, str) else item
            if colour not in COLOR_CHOICES:
                raise _bad(where, "expects.color", item, "one of " + ", ".join(COLOR_CHOICES))
            out[key] = colour
    return out


def out_of_domain(metadata: Mapping[str, Any], expects: Mapping[str, Any] | None,
                  colour: bool | None = None) -> list[str]:
    """Why an image (its metadata: modality, body_part, view_position, rows, columns, photometric) is outside the
    domain of a model that expects `expects` (None: the model declares nothing); [] when it is inside.

    `colour` overrides what the photometric interpretation says (see `is_colour_content`)."""
    expects = expects or {}
    reasons: list[str] = []
    modality = _code(metadata.get("modality"))
    if "modalities" in expects:
        if modality and modality not in expects["modalities"]:
            reasons.append(f"modality {modality} (the model expects {_either(expects['modalities'])})")
    elif modality in CROSS_SECTIONAL:
        reasons.append(f"modality {modality} is cross-sectional (the model's sidecar does not say what it "
                       "expects)")
    for key, field, words in (("body_parts", "body_part", "body part"),
                              ("view_positions", "view_position", "view position")):
        value = _code(metadata.get(field))
        if key in expects and value and value not in expects[key]:
            reasons.append(f"{words} {value} (the model expects {_either(expects[key])})")
    if "min_size" in expects:
        rows, columns = metadata.get("rows"), metadata.get("columns")
        least = expects["min_size"]
        if rows and columns and (rows < least[0] or columns < least[1]):
            reasons.append(f"image {rows}×{columns} pixels (the model expects at least {least[0]}×{least[1]})")
    wanted = expects.get("color", "any")
    if wanted != "any":
        photometric = _code(metadata.get("photometric"))
        if colour is None:
            colour = bool(photometric) and photometric not in GREY_PHOTOMETRICS
        if colour and wanted == "grey":
            shown = f", photometric {photometric}" if photometric else ""
            reasons.append(f"colour image{shown} (the model expects grey)")
        elif not colour and wanted == "color":
            reasons.append("grey image (the model expects colour)")
    return reasons


def image_out_of_domain(image, expects: Mapping[str, Any] | None) -> list[str]:
    """`out_of_domain` for a viewer.io DisplayImage: colour judged on the pixels, not on the header alone."""
    colour = is_colour_content(image.modality) if image.is_color else False
    return out_of_domain(image.metadata, expects, colour=colour)


def is_colour_content(rgb: np.ndarray) -> bool:
    """Whether an (H, W, 3) image shows colour: more than COLOURED_FRACTION of its pixels with channels more than
    SPREAD grey levels apart. A grey radiograph stored as RGB (often so from film scanners and photo tools) is grey."""
    step = max(1, int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / _SAMPLE_PIXELS))))
    r, g, b = (rgb[::step, ::step, channel] for channel in range(3))
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)  # uint8: max >= min, no wrap
    return np.count_nonzero(spread > SPREAD) > COLOURED_FRACTION * spread.size


def _code(value: Any) -> str:
    """A DICOM code string as compared: stripped, upper case; '' when absent."""
    return str(value).strip().upper() if value is not None else ""


def _either(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _bad(where: str, key: str, value: Any, expected: str) -> ModelError:
    return ModelError(f"{where}: bad value for {key!r}: {value!r} (expected {expected})")
