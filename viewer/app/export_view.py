"""Exported panels as the reader sees them: turned and flipped like the screen, with the measurements burned in.

The CAM array (STEM_cam.npy) and the JSON record stay in the file's pixel grid: only the picture is turned.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from viewer.io import DisplayImage
from viewer.render.annotate import draw_measurements

from .measure import Measurement, spacing
from .orientation import Orientation

PanelView = Callable[[np.ndarray], np.ndarray]


def panel_view(image: DisplayImage, orientation: Orientation,
               measurements: tuple[Measurement, ...]) -> PanelView | None:
    """What to do to each exported panel (at any export scale); None when it is shown as stored, unmeasured."""
    if orientation == Orientation() and not measurements:
        return None
    height, width = image.shape[:2]
    grid = spacing(image.dataset)
    labels = [label for m in measurements for label in m.labels(grid)]

    def view(pixels: np.ndarray) -> np.ndarray:
        factor = pixels.shape[1] / width  # an export 'as displayed' is scaled
        turned = orientation.apply(pixels)
        w, h = round(width * factor), round(height * factor)
        segments = []
        for measurement in measurements:
            for x0, y0, x1, y1 in measurement.spans:
                a = orientation.map_point(x0 * factor, y0 * factor, w, h)
                b = orientation.map_point(x1 * factor, y1 * factor, w, h)
                segments.append((a[0], a[1], b[0], b[1]))
        return draw_measurements(turned, segments, labels)
    return view
