"""The outline of a thresholded CAM as polygons, for a viewer that draws it as a vector path.

Exports burn their contour into the pixels (overlay.OverlayRenderer); on screen a path drawn with a cosmetic pen
keeps one width in screen pixels at every zoom, where burned-in pixels grow into staircase edges.
"""

from __future__ import annotations

import cv2
import numpy as np

SIMPLIFY_PX = 1.0  # Douglas–Peucker tolerance: straightens the one-pixel stairs of a diagonal edge


def contour_polygons(cam: np.ndarray, threshold: float, simplify: float = SIMPLIFY_PX) -> list[np.ndarray]:
    """float32 (N, 2) x, y polygons (pixel centres, image coordinates) around where `cam` >= `threshold`."""
    cam = np.ascontiguousarray(cam, dtype=np.float32)
    mask = (cam >= float(threshold)).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    polygons = []
    for contour in contours:
        simplified = cv2.approxPolyDP(contour, simplify, True) if simplify > 0 else contour
        polygons.append(simplified.reshape(-1, 2).astype(np.float32) + 0.5)  # pixel i spans [i, i + 1]
    return polygons
