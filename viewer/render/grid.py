"""Titled panels in a grid (rows of compose_panels), e.g. every CAM method's overlay of one image."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .colormaps import RenderError
from .panels import BACKGROUND, compose_panels


def fit_within(image: np.ndarray, longest: int) -> np.ndarray:
    """`image` shrunk (area averaging) so its longer side is at most `longest` px; never enlarged."""
    height, width = image.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)


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
    stacked = []
    for i, row in enumerate(rows):
        padded = np.full((row.shape[0], width, 3), BACKGROUND, np.uint8)
        padded[:, :row.shape[1]] = row
        stacked += [padded] if i == 0 else [np.full((gap, width, 3), BACKGROUND, np.uint8), padded]
    return np.vstack(stacked)
