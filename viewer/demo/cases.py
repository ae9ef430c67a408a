"""Evaluation cases: fresh phantoms with exactly one lesion, its kind, mask and box — deterministic from seeds
that training never used (make_phantom seeds 7 000 000 + i; training draws make_batch child seeds of 20240601 and
20240602, and the demo model's architecture was chosen on seeds 9 000 000 + i)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .phantom import LESION_KINDS, make_phantom

FIRST_SEED = 7_000_000
SIZE = 256  # display size: the demo model's input is 128 px, so a display pixel is half an input pixel
TOLERANCE = 4  # px at SIZE (2 px at the model input): the pointing tolerance the demo measurements use


@dataclass(frozen=True)
class LesionCase:
    seed: int
    kind: str  # the lesion's kind, the target to explain
    display: np.ndarray  # uint8 (SIZE, SIZE): the phantom as a display image
    mask: np.ndarray  # bool (SIZE, SIZE): where the lesion is visible
    box: tuple[int, int, int, int]  # x, y, w, h enclosing the mask


def lesion_cases(n: int) -> Iterator[LesionCase]:
    """n one-lesion phantoms at SIZE (TOLERANCE is in its pixels), kinds alternating (nodule first), drawn one at a
    time."""
    for i in range(n):
        kind = LESION_KINDS[i % len(LESION_KINDS)]
        phantom = make_phantom(FIRST_SEED + i, SIZE, [kind])
        lesion = phantom.lesions[0]
        yield LesionCase(FIRST_SEED + i, kind, phantom.display, lesion.mask, lesion.box)
