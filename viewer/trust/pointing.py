"""Does the map point at the lesion? The pointing game and the energy inside a box or mask.

Pointing game (Zhang et al. 2016, "Top-down neural attention by excitation backprop"): a hit when the map's
maximum lies within a tolerance of the region. Their tolerance is 15 px, on natural images of a few hundred
pixels: it forgives a maximum on the object's edge. It is given in pixels of the image the map is drawn on.

Energy in the region (Wang et al. 2020, Score-CAM's "energy-based pointing game"): the fraction of the map's
total mass that falls inside the region; 1 means the map lies wholly inside, the region's area fraction is what
a uniform map gets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.errors import RadcamError

DEFAULT_TOLERANCE = 15  # px, Zhang et al. 2016


@dataclass(frozen=True)
class Localisation:
    hit: bool  # the maximum within `tolerance` px of the region
    energy: float  # map mass inside the region / total mass
    peak: tuple[int, int]  # (x, y) of the map's maximum
    tolerance: float

    def to_dict(self) -> dict:
        return {"hit": self.hit, "energy": self.energy, "peak": list(self.peak), "tolerance": self.tolerance}


def box_mask(shape: tuple[int, ...], box: tuple[int, int, int, int]) -> np.ndarray:
    """bool (H, W): the pixels of box (x, y, w, h), clipped to the image; RadcamError when none is inside."""
    height, width = shape[:2]
    x, y, w, h = (int(v) for v in box)
    if w < 1 or h < 1:
        raise RadcamError(f"box {x},{y},{w},{h}: width and height must be at least 1")
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x0 >= x1 or y0 >= y1:
        raise RadcamError(f"box {x},{y},{w},{h} lies outside the {width}x{height} image")
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def localise(saliency: np.ndarray, region: np.ndarray, tolerance: float = DEFAULT_TOLERANCE) -> Localisation:
    """Pointing hit and energy of `saliency` (H, W, non-negative) for `region` (bool (H, W): a mask or box_mask).

    The maximum is the first one in raster order; a constant map (an empty CAM) has no maximum to point with and
    counts as a miss."""
    saliency = np.asarray(saliency, np.float64)
    region = np.asarray(region, bool)
    if region.shape != saliency.shape:
        raise ValueError(f"region {region.shape} and map {saliency.shape} differ in size")
    if not region.any():
        raise RadcamError("the region to point at is empty")
    y, x = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
    ys, xs = np.nonzero(region)
    near = float(np.min((ys - y) ** 2 + (xs - x) ** 2)) <= float(tolerance) ** 2
    hit = bool(near and saliency.max() > saliency.min())
    total = float(saliency.sum())
    energy = float(saliency[region].sum()) / total if total > 0 else 0.0
    return Localisation(hit, energy, (int(x), int(y)), float(tolerance))
