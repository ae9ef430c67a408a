"""The transparent-threshold overlay: CAM colours blended over the image only where the CAM reaches the threshold.

`OverlayRenderer` keeps what does not depend on the sliders (RGB base, CAM colours per colour map, the last blend),
so a threshold or opacity change is one masked copy (plus one blend when the opacity or colour map changed).
"""

from __future__ import annotations

import cv2
import numpy as np

from viewer.errors import RenderError

from .colormaps import ColorMap, apply_lut, cam_indices
from .defaults import DEFAULTS

DEFAULT_CONTOUR_COLOR = (255, 255, 0)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3) → contiguous uint8 (H, W, 3); an RGB input is returned as is."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise RenderError(f"an image to render must be uint8, not {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    raise RenderError(f"an image to render must be (H, W) or (H, W, 3), not shape {image.shape}")


def contour_thickness_for(shape: tuple[int, ...]) -> int:
    """A line that stays visible on a fitted 2048² radiograph without hiding detail on a 512² one."""
    return max(1, round(min(shape[:2]) / 512))


class OverlayRenderer:
    """Renders one (base, CAM) pair again and again with different overlay settings."""

    def __init__(self, base: np.ndarray, cam: np.ndarray):
        self.base = as_rgb(base)
        self.cam = np.ascontiguousarray(cam, dtype=np.float32)
        if self.cam.shape != self.base.shape[:2]:
            raise RenderError(f"the CAM is {self.cam.shape[1]}x{self.cam.shape[0]} but the image is "
                              f"{self.base.shape[1]}x{self.base.shape[0]}; resize the CAM to the image first")
        self._indices = cam_indices(self.cam)
        self._colours: dict[str, np.ndarray] = {}
        self._blend_key: tuple[str, float] | None = None
        self._blend: np.ndarray | None = None

    def colours(self, colormap: ColorMap) -> np.ndarray:
        """The CAM in `colormap` colours (cached per colour map)."""
        if colormap not in self._colours:
            self._colours[colormap] = apply_lut(self._indices, colormap)
        return self._colours[colormap]

    def _blended(self, colormap: ColorMap, alpha: float) -> np.ndarray:
        if self._blend_key != (colormap, alpha):
            self._blend = cv2.addWeighted(self.base, 1.0 - alpha, self.colours(colormap), alpha, 0.0)
            self._blend_key = (colormap, alpha)
        assert self._blend is not None
        return self._blend

    def mask(self, threshold: float) -> np.ndarray:
        """uint8 (H, W): 255 where the CAM is at or above `threshold`, else 0."""
        # OpenCV's annotations take only arrays here; the function takes a scalar too
        return cv2.compare(self.cam, float(threshold), cv2.CMP_GE)  # type: ignore[call-overload]

    def render(self, threshold: float = DEFAULTS.cam_threshold, alpha: float = DEFAULTS.opacity,
               colormap: ColorMap = DEFAULTS.colormap, contour: bool = DEFAULTS.contour,
               contour_color: tuple[int, int, int] = DEFAULT_CONTOUR_COLOR,
               contour_thickness: int | None = None) -> np.ndarray:
        """A new uint8 (H, W, 3) RGB image (never a cached buffer: callers keep and display it)."""
        alpha = float(alpha)
        if not 0.0 <= alpha <= 1.0:
            raise RenderError(f"overlay opacity must be between 0 and 1, not {alpha}")
        blended = self._blended(colormap, alpha)
        mask = self.mask(threshold)
        out = self.base.copy()
        cv2.copyTo(blended, mask, out)
        if contour:
            contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
            thickness = contour_thickness or contour_thickness_for(out.shape)
            cv2.drawContours(out, contours, -1, tuple(int(c) for c in contour_color), thickness, cv2.LINE_8)
        return out


def overlay(base: np.ndarray, cam: np.ndarray, threshold: float = DEFAULTS.cam_threshold,
            alpha: float = DEFAULTS.opacity, colormap: ColorMap = DEFAULTS.colormap, contour: bool = DEFAULTS.contour,
            contour_color: tuple[int, int, int] = DEFAULT_CONTOUR_COLOR,
            contour_thickness: int | None = None) -> np.ndarray:
    """One-off overlay of `cam` (float (H, W) in [0, 1], already at the base's size) on `base` (uint8 grey/RGB)."""
    return OverlayRenderer(base, cam).render(threshold, alpha, colormap, contour, contour_color, contour_thickness)
