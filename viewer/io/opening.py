"""open_image: one file to one DisplayImage, with every failure turned into a one-line StudyError."""

from __future__ import annotations

from pathlib import Path

from PIL import UnidentifiedImageError
from pydicom.errors import InvalidDicomError

from ..errors import RadcamError, StudyError
from .allocator import keep_freed_memory
from .dicom import open_dicom
from .failures import describe
from .image import DisplayImage
from .raster import is_raster, open_raster


def open_image(path: str | Path, frame: int = 0) -> DisplayImage:
    """Frame `frame` of the DICOM or raster image at `path`.

    Raises StudyError (NoImageError for DICOM without pixels) naming the file and the reason.
    """
    path = Path(path)
    keep_freed_memory()  # once per process: every image allocates and frees the same image-sized blocks
    try:
        check_file(path)
        if is_raster(path):
            return open_raster(path, frame)
        try:
            return open_dicom(path, frame)
        except InvalidDicomError:
            # Not DICOM: perhaps an image without the usual suffix.
            return open_raster(path, frame)
    except RadcamError:
        raise
    except UnidentifiedImageError as exc:
        raise StudyError(f"{path}: not a DICOM file or an image format Pillow can read") from exc
    except Exception as exc:  # the boundary: pydicom/Pillow/numpy failures become one readable line
        raise StudyError(f"{path}: cannot read: {describe(exc)}") from exc


def check_file(path: Path) -> None:
    if not path.exists():
        raise StudyError(f"{path}: no such file")
    if path.is_dir():
        raise StudyError(f"{path}: is a directory, not an image file")
    if path.stat().st_size == 0:
        raise StudyError(f"{path}: empty file (0 bytes)")

