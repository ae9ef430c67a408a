"""Browser thumbnails, made on a background thread (QImage, unlike QPixmap, may be built off the UI thread)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from .decoding import Decoder
from .views import to_qimage

SIZE = 64


def thumbnail(decoder: Decoder, path: Path) -> QImage:
    """The first frame as the viewer shows it by default, at most SIZE pixels on its longer side."""
    return to_qimage(decoder.thumbnail(path, SIZE)).scaled(SIZE, SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                                           Qt.TransformationMode.SmoothTransformation)
