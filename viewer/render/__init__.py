"""Colour maps, heatmaps, the thresholded overlay, the panel and grid composers (numpy/OpenCV only)."""

from viewer.errors import RenderError

from .colorbar import CAM_THRESHOLD_LABEL, colorbar, with_colorbar
from .colormaps import COLORMAPS, ColorMap, colormap_lut, heatmap
from .defaults import DEFAULTS, OverlayDefaults
from .grid import compose_grid, fit_within, scale_image
from .overlay import OverlayRenderer, overlay
from .panels import compose_panels

__all__ = ["CAM_THRESHOLD_LABEL", "COLORMAPS", "DEFAULTS", "ColorMap", "OverlayDefaults", "OverlayRenderer",
           "RenderError", "colorbar", "colormap_lut", "compose_grid", "compose_panels", "fit_within", "heatmap",
           "overlay", "scale_image", "with_colorbar"]
