"""The one table of overlay defaults. The viewer's controls and remembered settings, `radcam-cli explain`'s
options and the export code all read it, so an export with defaults matches the screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # colormaps reads DEFAULTS; only the type goes the other way
    from .colormaps import ColorMap


@dataclass(frozen=True)
class OverlayDefaults:
    cam_threshold: float  # CAM values below it are transparent (the overlay's threshold, not a decision threshold)
    opacity: float
    contour: bool
    colormap: ColorMap
    decision_threshold: float  # a label's, when the model's sidecar names none


# viridis: perceptually uniform and ordered in lightness, readable with red-green colour blindness, and neither end
# is black or white, so a low CAM value never reads as dark lung or bright bone (README: Reading the map).
DEFAULTS = OverlayDefaults(cam_threshold=0.4, opacity=0.5, contour=True, colormap="viridis", decision_threshold=0.5)
