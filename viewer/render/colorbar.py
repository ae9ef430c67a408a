"""The colour bar burned into map exports: the colour map's 0–1 scale with the CAM threshold marked and named."""

from __future__ import annotations

import cv2
import numpy as np

from .colormaps import ColorMap, colormap_lut
from .panels import BACKGROUND, FONT, TEXT_COLOR, filled, font_scale

CAM_THRESHOLD_LABEL = "CAM threshold"  # the overlay's; never "threshold" alone (a label has a decision threshold)
MARK_COLOR = (255, 255, 255)


def colorbar(height: int, colormap: ColorMap, cam_threshold: float | None) -> np.ndarray:
    """uint8 (height, W, 3) RGB: a vertical bar, 1 at the top and 0 at the bottom, ticks 0 / 0.5 / 1 on its right,
    and a line across it at `cam_threshold` labelled 'CAM threshold 0.40' (None: no mark)."""
    height = max(int(height), 48)
    scale = font_scale(height) * 0.7
    thickness = max(1, round(scale * 1.5))
    (_, text_h), baseline = cv2.getTextSize("0", FONT, scale, thickness)
    pad = max(3, text_h // 2)
    bar_w = max(10, height // 30)
    label = f"{CAM_THRESHOLD_LABEL} {cam_threshold:.2f}" if cam_threshold is not None else "1.0"
    (label_w, _), _ = cv2.getTextSize(label, FONT, scale, thickness)
    tick = max(3, bar_w // 3)
    width = pad + bar_w + tick + pad + label_w + pad
    out = filled((height, width, 3), BACKGROUND)
    top, bottom = pad + text_h // 2, height - pad - text_h // 2 - baseline  # the bar's 1 and 0 rows
    span = bottom - top
    rows = np.linspace(1.0, 0.0, span + 1)
    out[top:bottom + 1, pad:pad + bar_w] = colormap_lut(colormap)[np.round(rows * 255).astype(int)][:, None, :]
    x_text = pad + bar_w + tick + pad

    def y_of(value: float) -> int:
        return round(bottom - min(max(value, 0.0), 1.0) * span)

    def text_at(text: str, y: int) -> None:
        cv2.putText(out, text, (x_text, y + text_h // 2), FONT, scale, TEXT_COLOR, thickness, cv2.LINE_AA)

    marked = y_of(cam_threshold) if cam_threshold is not None else None
    for value, text in ((1.0, "1"), (0.5, "0.5"), (0.0, "0")):
        y = y_of(value)
        cv2.line(out, (pad + bar_w, y), (pad + bar_w + tick, y), TEXT_COLOR, 1)
        if marked is None or abs(y - marked) > text_h + 2:  # the threshold's label wins a collision
            text_at(text, y)
    if marked is not None:
        # A line across the bar with a dark edge, so it shows on the bright and the dark end of any colour map.
        cv2.line(out, (pad - 2, marked), (pad + bar_w + tick, marked), (0, 0, 0), max(3, thickness + 2))
        cv2.line(out, (pad - 2, marked), (pad + bar_w + tick, marked), MARK_COLOR, max(1, thickness))
        text_at(label, min(max(marked, text_h), height - text_h))
    return out


def with_colorbar(panel: np.ndarray, colormap: ColorMap, cam_threshold: float | None) -> np.ndarray:
    """`panel` (uint8 RGB) with its colour bar on the right, the same height."""
    bar = colorbar(panel.shape[0], colormap, cam_threshold)
    if bar.shape[0] != panel.shape[0]:  # a panel under 48 px: the bar keeps its minimum, the panel is padded
        grown = np.full((bar.shape[0], *panel.shape[1:]), BACKGROUND, np.uint8)
        grown[:panel.shape[0]] = panel
        panel = grown
    return np.hstack([panel, bar])
