"""PNG/JPEG/TIFF/BMP files through Pillow: grey stays as stored (8-bit shown unchanged), colour becomes RGB."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import StudyError
from .failures import describe, warning_notes
from .image import DisplayImage, GreyValues
from .windows import auto_window, covering

SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
GREY_MODES = ("L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F")
# Modes with alpha or extra channels that become plain grey or RGB (alpha dropped).
TO_GREY = {"1": "L", "LA": "L", "La": "L"}


def is_raster(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def probe_raster(path: Path) -> int:
    """Number of frames, from the header only (no pixels are decoded)."""
    with _opened(path) as im:
        if 0 in im.size:  # Pillow's stub formats (HDF5, FITS, GRIB...) identify a file without any pixels
            raise StudyError(f"{path}: a {im.format} file, not an image")
        return getattr(im, "n_frames", 1)


def open_raster(path: Path, frame: int = 0) -> DisplayImage:
    notes: list[str] = []
    # Pillow warns about damaged metadata (corrupt EXIF, ...): notes for the user, not stray lines on stderr.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _opened(path) as im:
            frames = getattr(im, "n_frames", 1)
            if not 0 <= frame < frames:
                raise StudyError(f"{path}: frame {frame} out of range: the file has {frames} frame(s) "
                                 f"(0..{frames - 1})")
            im.seek(frame)
            fmt = im.format
            # A photographed or phone-exported film carries its rotation in EXIF; show it upright as photo
            # viewers do.
            pixels, mode = _pixels(_upright(im, notes) if frames == 1 else im)
    values: GreyValues | np.ndarray
    if pixels.ndim == 3:
        values, windows = pixels, [covering(0.0, 255.0)]
    else:
        grey = values = GreyValues(pixels, lambda a: a)
        # 8-bit grey is shown exactly as stored; deeper data gets a window from its histogram.
        windows = [covering(0.0, 255.0) if pixels.dtype == np.uint8 else auto_window(grey)]
    rows, columns = pixels.shape[:2]
    meta = {
        "patient": {"name": None, "id": None, "sex": None, "age": None},
        "study_date": None, "study_description": None, "series_description": None, "modality": None,
        "view_position": None, "body_part": None, "institution": None,
        "rows": rows, "columns": columns, "frames": frames, "pixel_spacing": None,
        "bits_allocated": pixels.dtype.itemsize * 8, "bits_stored": pixels.dtype.itemsize * 8,
        "photometric": "RGB" if pixels.ndim == 3 else "MONOCHROME2",
        "transfer_syntax": None, "study_uid": None, "series_uid": None, "sop_instance_uid": None,
        "instance_number": None, "series_number": None, "format": fmt, "mode": mode,
        "warnings": notes + warning_notes(caught),
    }
    return DisplayImage(path=path, frame=frame, frames=frames, kind="image", values=values, windows=windows,
                        invert=False, metadata=meta)


def _upright(im: Image.Image, notes: list[str]) -> Image.Image:
    im.load()  # first: damaged pixels must fail here, not hide behind the EXIF guard (PNG's getexif() loads them)
    try:
        im.getexif()
    except Exception as exc:  # noqa: BLE001 - a damaged EXIF block: the pixels are still good, shown as stored
        notes.append(f"EXIF ignored: {describe(exc)}")
        return im
    return ImageOps.exif_transpose(im)


@contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """Image.open with Pillow's decompression-bomb limit enforced already at its warning level."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{found.group(1)} pixels" if found else "too many pixels"
            raise StudyError(f"{path}: image too large: {size} (limit {Image.MAX_IMAGE_PIXELS})") from exc
    with image:
        yield image


def _pixels(im: Image.Image) -> tuple[np.ndarray, str]:
    """Decoded pixels: (H, W) grey in the file's own depth, or (H, W, 3) uint8 RGB; and the file's mode."""
    mode = im.mode
    if mode == "P" or mode == "PA":
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
        rgb = np.asarray(im)[..., :3]
        # A grey palette (common for X-rays saved by some tools) stays grey.
        grey = np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
        return (np.ascontiguousarray(rgb[..., 0]) if grey else np.ascontiguousarray(rgb)), mode
    if mode in TO_GREY:
        im = im.convert(TO_GREY[mode])
    elif mode not in GREY_MODES:
        im = im.convert("RGB")
    pixels = np.asarray(im)
    if pixels.dtype.byteorder == ">":
        pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    return np.ascontiguousarray(pixels), mode
