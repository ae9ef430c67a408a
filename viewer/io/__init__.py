"""Files and folders to studies, and frames to displayable images (see docs/ARCHITECTURE.md)."""

from .image import DisplayImage
from .loader import load
from .opening import open_image
from .study import Instance, LoadResult, Series, Skipped, Study
from .windows import Window

__all__ = ["DisplayImage", "Instance", "LoadResult", "Series", "Skipped", "Study", "Window", "load", "open_image"]
