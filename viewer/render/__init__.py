"""Colour maps, heatmaps, the thresholded overlay and the panel composer (numpy/OpenCV only)."""

from .colormaps import COLORMAPS, RenderError, colormap_lut, heatmap
from .overlay import OverlayRenderer, overlay
from .panels import compose_panels

__all__ = ["COLORMAPS", "OverlayRenderer", "RenderError", "colormap_lut", "compose_panels", "heatmap", "overlay"]
