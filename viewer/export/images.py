"""PNG, JPEG and TIFF files at full resolution: PNG band by band (png.py), JPEG and TIFF through Pillow."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from viewer.errors import ExportError
from viewer.render.strips import Rows, array_rows

from .atomic import atomic_write
from .png import PNG_COMPRESSION, write_png

# extension → (Pillow format, save options)
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".png": ("PNG", {}),  # written by png.write_png
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),  # 4:4:4: chroma subsampling smears thin contour lines
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
}


def save_image(path: str | os.PathLike, array: np.ndarray | Rows, overwrite: bool = False,
               png_compression: int = PNG_COMPRESSION, bands: Iterable[np.ndarray] | None = None) -> Path:
    """Save a uint8 (H, W) grey or (H, W, 3) RGB image, or its Rows (made band by band while a PNG is written);
    the format follows the extension; `png_compression`: deflate level 0-9 (the same pixels at any level);
    `bands`: a PNG's Rows' bands as the caller makes them (viewer.export.encode)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ExportError(f"cannot write {path}: unknown image type {path.suffix or '(none)'}; "
                          f"use one of {', '.join(FORMATS)}")
    if path.suffix.lower() == ".png":
        rows = array if isinstance(array, Rows) else array_rows(_checked(path, array))

        def write(temporary: Path) -> None:
            with open(temporary, "wb") as handle:
                write_png(handle, rows, png_compression, bands)

        return atomic_write(path, write, overwrite)
    array = _checked(path, array.whole() if isinstance(array, Rows) else array)
    image = Image.fromarray(np.ascontiguousarray(array))  # uint8 (H, W) → L, (H, W, 3) → RGB
    image_format, options = FORMATS[path.suffix.lower()]
    return atomic_write(path, lambda temporary: image.save(temporary, format=image_format, **options), overwrite)


def _checked(path: Path, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ExportError(f"cannot write {path}: expected a uint8 grey or RGB image, got {array.dtype} {array.shape}")
    return array
