"""How alike two maps are: Spearman rank correlation and SSIM (numpy/OpenCV; no SciPy or scikit-image)."""

from __future__ import annotations

import cv2
import numpy as np


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of the flattened values, ties sharing their average rank (as Spearman's ρ requires)."""
    flat = np.asarray(values, np.float64).ravel()
    _, group, counts = np.unique(flat, return_inverse=True, return_counts=True)  # one sort
    # A group of k equal values occupies positions end - k .. end - 1: their mean is end - (k + 1) / 2.
    return (np.cumsum(counts) - (counts + 1) / 2)[group]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two same-shaped maps, in [-1, 1].

    A constant map ranks nothing, so it has no monotone association with anything: 0.0 (not NaN), which is
    what a map wiped out by randomisation should count as."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"maps of different shapes {a.shape} and {b.shape}")
    ra, rb = ranks(a), ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    norm = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float(np.clip((ra * rb).sum() / norm, -1.0, 1.0)) if norm > 0 else 0.0


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity of two same-shaped 2-D maps (Wang et al. 2004): 11×11 Gaussian window,
    σ = 1.5, K1 = 0.01, K2 = 0.03 — the paper's settings (scikit-image's gaussian_weights=True). Implemented with
    cv2.GaussianBlur because scikit-image is not a dependency; borders are reflected rather than cropped, so values
    can differ from scikit-image's in the third decimal."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"SSIM needs two maps of one 2-D shape, not {a.shape} and {b.shape}")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def window(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = window(a), window(b)
    var_a = window(a * a) - mu_a * mu_a
    var_b = window(b * b) - mu_b * mu_b
    cov = window(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(index.mean())
