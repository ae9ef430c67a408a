"""Titled panels in a grid (rows of compose_panels), e.g. every CAM method's overlay of one image."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from viewer.errors import RenderError

from .panels import BACKGROUND, compose_panels


def scale_image(image: np.ndarray, scale: float) -> np.ndarray:
    """`image` resized by `scale`: area averaging when shrinking, bilinear when enlarging; at least 1 px a side."""
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def fit_within(image: np.ndarray, longest: int) -> np.ndarray:
    """`image` shrunk so its longer side is at most `longest` px; never enlarged."""
    scale = longest / max(image.shape[:2])
    return image if scale >= 1.0 else scale_image(image, scale)


def compose_grid(panels: Sequence[tuple[str, np.ndarray]], columns: int = 4, header: str | None = None,
                 caption: str | None = None) -> np.ndarray:
    """(title, image) panels, `columns` per row, as one uint8 (H, W, 3) RGB image with optional header/caption."""
    if not panels or columns < 1:
        raise RenderError("compose_grid needs at least one panel and one column")
    chunks = [list(panels[i:i + columns]) for i in range(0, len(panels), columns)]
    # Header and caption ride on the first and last rows, so their text is sized like the titles.
    rows = [compose_panels(chunk, header=header if i == 0 else None,
                           caption=caption if i == len(chunks) - 1 else None) for i, chunk in enumerate(chunks)]
    width = max(row.shape[1] for row in rows)
    gap = max(4, rows[0].shape[0] // 100)
    grid = np.full((sum(row.shape[0] for row in rows) + gap * (len(rows) - 1), width, 3), BACKGROUND, np.uint8)
    top = 0
    for row in rows:
        grid[top:top + row.shape[0], :row.shape[1]] = row
        top += row.shape[0] + gap
    return grid
