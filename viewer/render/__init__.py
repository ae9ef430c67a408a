"""Colour maps, heatmaps, the thresholded overlay, the panel and grid composers (numpy/OpenCV only)."""

from viewer.errors import RenderError

from .colormaps import COLORMAPS, ColorMap, colormap_lut, heatmap
from .grid import compose_grid, fit_within, scale_image
from .overlay import OverlayRenderer, overlay
from .panels import compose_panels

__all__ = ["COLORMAPS", "ColorMap", "OverlayRenderer", "RenderError", "colormap_lut", "compose_grid", "compose_panels",
           "fit_within", "heatmap", "overlay", "scale_image"]
