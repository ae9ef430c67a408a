"""Evaluation cases: fresh phantoms with exactly one lesion (lesion_cases) or with both kinds apart
(two_lesion_cases, seeds 7 500 000 + i), its kind, mask and box — deterministic from seeds
that training never used (make_phantom seeds 7 000 000 + i; training draws make_batch child seeds of 20240601 and
20240602, and the demo model's architecture was chosen on seeds 9 000 000 + i)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
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


TWO_LESION_FIRST_SEED = 7_500_000  # another fresh range: training, the one-lesion cases and dev never drew these


@dataclass(frozen=True)
class TwoLesionCase:
    seed: int
    display: np.ndarray  # uint8 (SIZE, SIZE): a phantom with a nodule and a consolidation
    masks: dict[str, np.ndarray]  # {kind: bool (SIZE, SIZE) where that lesion is visible}, one per LESION_KINDS
    boxes: dict[str, tuple[int, int, int, int]]  # {kind: x, y, w, h}


def two_lesion_cases(n: int) -> Iterator[TwoLesionCase]:
    """n phantoms with both lesions at SIZE, drawn one at a time. Seeds whose lesions touch or lie within twice
    TOLERANCE of each other are skipped (deterministically): there a map's maximum could count for both classes."""
    near = np.ones((4 * TOLERANCE + 1, 4 * TOLERANCE + 1), np.uint8)
    seed, found = TWO_LESION_FIRST_SEED, 0
    while found < n:
        phantom = make_phantom(seed, SIZE, list(LESION_KINDS))
        masks = {lesion.kind: lesion.mask for lesion in phantom.lesions}
        grown = cv2.dilate(masks[LESION_KINDS[0]].astype(np.uint8), near) > 0
        if not (grown & masks[LESION_KINDS[1]]).any():
            yield TwoLesionCase(seed, phantom.display, masks, {lesion.kind: lesion.box for lesion in phantom.lesions})
            found += 1
        seed += 1
