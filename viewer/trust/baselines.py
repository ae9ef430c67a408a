"""Maps that know nothing about the model, scored like a method's map to show what "no better than chance" is.

random: uniform noise (seeded), the floor a faithful map must clear. edge: the Sobel gradient magnitude of the
image; Adebayo et al. (2018) found several saliency methods hard to tell apart from an edge detector.
"""

from __future__ import annotations

import cv2
import numpy as np

BASELINES = ("random", "edge")


def random_map(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """float32 (H, W) uniform in [0, 1)."""
    return np.random.default_rng(seed).random(shape[:2], dtype=np.float32)


def edge_map(display: np.ndarray) -> np.ndarray:
    """float32 (H, W) in [0, 1]: Sobel gradient magnitude of the grey image, divided by its maximum."""
    image = np.asarray(display)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    grey = grey.astype(np.float32)
    magnitude = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))
    top = float(magnitude.max())
    return magnitude / top if top > 0 else magnitude


def baseline_maps(display: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """{name: map at the display size} for every baseline."""
    return {"random": random_map(np.asarray(display).shape, seed), "edge": edge_map(display)}
