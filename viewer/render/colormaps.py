"""Colour maps as 256-entry RGB lookup tables, and the CAM → heatmap conversion."""

from __future__ import annotations

from functools import cache
from typing import Literal, get_args

import cv2
import numpy as np

from viewer.errors import RenderError

from .defaults import DEFAULTS

# A name a user may give (--colormap); the perceptually ordered ones first (the default is viridis: defaults.py).
ColorMap = Literal["viridis", "cividis", "inferno", "magma", "jet", "turbo", "hot", "grey"]
COLORMAPS: tuple[ColorMap, ...] = get_args(ColorMap)

_CV2_CODES = {"jet": cv2.COLORMAP_JET, "turbo": cv2.COLORMAP_TURBO, "hot": cv2.COLORMAP_HOT,
              "inferno": cv2.COLORMAP_INFERNO, "viridis": cv2.COLORMAP_VIRIDIS, "magma": cv2.COLORMAP_MAGMA,
              "cividis": cv2.COLORMAP_CIVIDIS}


@cache
def colormap_lut(name: ColorMap) -> np.ndarray:
    """(256, 3) uint8 RGB table for `name`; read-only because it is shared by every caller."""
    if name not in COLORMAPS:
        raise RenderError(f"unknown colour map {name!r}; choose one of {', '.join(COLORMAPS)}")
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    lut: np.ndarray
    if name == "grey":
        lut = np.repeat(ramp, 3, axis=1)
    else:
        # OpenCV's tables are BGR.
        lut = cv2.applyColorMap(ramp, _CV2_CODES[name])[:, 0, ::-1].copy()
    lut.flags.writeable = False
    return lut


def cam_indices(cam: np.ndarray) -> np.ndarray:
    """CAM values in [0, 1] as uint8 LUT indices 0..255 (rounded; out-of-range values clipped, NaN → 0)."""
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 2:
        raise RenderError(f"a CAM must be a 2-D array, not shape {cam.shape}")
    # convertScaleAbs rounds and saturates in one pass (6x faster than numpy); after the clip its abs() is a no-op.
    # NaN survives the clip and saturates to 0 (no activation); tests/test_render.py pins that.
    return cv2.convertScaleAbs(np.clip(cam, 0.0, 1.0), alpha=255.0)


def apply_lut(indices: np.ndarray, colormap: ColorMap) -> np.ndarray:
    """uint8 (H, W) indices → uint8 (H, W, 3) RGB through the colour map's table."""
    # applyColorMap with a user table is a plain lookup (no BGR swap): >10x faster than numpy fancy indexing.
    return cv2.applyColorMap(indices, _user_table(colormap))


@cache
def _user_table(colormap: ColorMap) -> np.ndarray:
    return np.ascontiguousarray(colormap_lut(colormap).reshape(256, 1, 3))


def heatmap(cam: np.ndarray, colormap: ColorMap = DEFAULTS.colormap) -> np.ndarray:
    """A float CAM in [0, 1] (H, W) as an RGB uint8 (H, W, 3) image."""
    return apply_lut(cam_indices(cam), colormap)
