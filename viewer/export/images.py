"""PNG, JPEG and TIFF files at full resolution, through Pillow."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from viewer.errors import ExportError

from .atomic import atomic_write

# extension → (Pillow format, save options)
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".png": ("PNG", {"compress_level": 6}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),  # 4:4:4: chroma subsampling smears thin contour lines
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
}


def save_image(path: str | os.PathLike, array: np.ndarray, overwrite: bool = False) -> Path:
    """Save a uint8 (H, W) grey or (H, W, 3) RGB image; the format follows the extension."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ExportError(f"cannot write {path}: unknown image type {path.suffix or '(none)'}; "
                          f"use one of {', '.join(FORMATS)}")
    array = np.asarray(array)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ExportError(f"cannot write {path}: expected a uint8 grey or RGB image, got {array.dtype} {array.shape}")
    image = Image.fromarray(np.ascontiguousarray(array))  # uint8 (H, W) → L, (H, W, 3) → RGB
    image_format, options = FORMATS[path.suffix.lower()]
    return atomic_write(path, lambda temporary: image.save(temporary, format=image_format, **options), overwrite)
