"""Measurements burned into an exported panel: lines with end ticks and their labels (cv2, no Qt)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .overlay import as_rgb
from .panels import FONT, ascii_text

COLOUR = (255, 214, 10)  # the viewer's measurement yellow: apart from every colour map's hues at the threshold
Segment = tuple[float, float, float, float]  # x0, y0, x1, y1 in the panel's pixels


def draw_measurements(pixels: np.ndarray, segments: Sequence[Segment], labels: Sequence[str]) -> np.ndarray:
    """A copy of `pixels` (RGB) with each segment drawn and its label above its middle, sized to the panel."""
    if not segments:
        return pixels
    out = as_rgb(pixels).copy()
    size = max(out.shape[:2])
    thickness = max(1, round(size / 400))
    scale = max(0.4, size / 1100)
    tick = max(3, size // 120)
    for (x0, y0, x1, y1), label in zip(segments, labels, strict=False):
        start, end = (round(x0), round(y0)), (round(x1), round(y1))
        cv2.line(out, start, end, COLOUR, thickness, cv2.LINE_AA)
        length = float(np.hypot(x1 - x0, y1 - y0)) or 1.0
        nx, ny = -(y1 - y0) / length * tick, (x1 - x0) / length * tick  # end ticks across the line
        for x, y in (start, end):
            cv2.line(out, (round(x - nx), round(y - ny)), (round(x + nx), round(y + ny)), COLOUR, thickness,
                     cv2.LINE_AA)
        text = ascii_text(label)
        (width, height), _ = cv2.getTextSize(text, FONT, scale, thickness)
        middle = ((start[0] + end[0]) // 2, (start[1] + end[1]) // 2)  # as on screen: an end may be at the edge
        x = min(max(0, middle[0] + tick), out.shape[1] - width - 1)
        y = min(max(height + 1, middle[1] - tick), out.shape[0] - 2)
        # A dark outline keeps the label readable on bright lung fields and on the heatmap.
        cv2.putText(out, text, (x, y), FONT, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(out, text, (x, y), FONT, scale, COLOUR, thickness, cv2.LINE_AA)
    return out
