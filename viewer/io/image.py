"""One displayable frame: modality values kept once, rendered to 8 bits for any window without decoding again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom import Dataset

from .windows import Window, voi_lut_to_8bit, window_to_8bit

# Integer pixel ranges up to this many distinct values render through a per-value lookup table.
MAX_LUT_ENTRIES = 1 << 20


class GreyValues:
    """Greyscale modality values stored as a per-value table plus an index image when the stored pixels are integers.

    A window is then computed on at most 2**BitsStored table entries and gathered with one take(), which keeps
    render() of a 2048x2048 frame in milliseconds; other data (float pixels, huge ranges) is windowed per pixel.
    """

    def __init__(self, stored: np.ndarray, to_modality: Callable[[np.ndarray], np.ndarray]):
        self.index: np.ndarray | None = None
        integral = stored.size > 0 and np.issubdtype(stored.dtype, np.integer)
        low, high = (int(stored.min()), int(stored.max())) if integral else (0, 0)
        if integral and high - low < MAX_LUT_ENTRIES:
            self.index = (stored.astype(np.int64) - low).astype(np.uint16 if high - low < 1 << 16 else np.uint32)
            self.table = np.asarray(to_modality(np.arange(low, high + 1, dtype=np.int64)), dtype=np.float64)
        else:
            self.table = np.asarray(to_modality(stored), dtype=np.float64)
        self.array = (self.table.astype(np.float32) if self.index is None
                      else self.table.astype(np.float32)[self.index])

    def map(self, to_8bit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Apply `to_8bit` (modality values -> 0..255 floats) and return the uint8 image."""
        lut = np.clip(np.rint(to_8bit(self.table)), 0, 255).astype(np.uint8)
        return lut if self.index is None else lut[self.index]


class DisplayImage:
    """One frame of one file, as the viewer shows it (see docs/ARCHITECTURE.md, `viewer.io` contract)."""

    def __init__(self, *, path: Path, frame: int, frames: int, kind: str, values: GreyValues | np.ndarray,
                 windows: list[Window], invert: bool, metadata: dict, dataset: Dataset | None = None):
        self.path = path
        self.frame = frame
        self.frames = frames
        self.kind = kind
        self._values = values
        self.windows = windows
        self.invert = invert
        self.metadata = metadata
        self.dataset = dataset

    @property
    def is_color(self) -> bool:
        return isinstance(self._values, np.ndarray)

    @property
    def modality(self) -> np.ndarray:
        """float32 (H, W) modality values, or uint8 (H, W, 3) RGB."""
        return self._values if self.is_color else self._values.array

    @property
    def default_window(self) -> Window:
        return self.windows[0]

    def render(self, window: Window | None = None, invert: bool | None = None) -> np.ndarray:
        """The uint8 image the viewer shows: window (the default one if None), then inversion if asked/needed.

        Colour images have no VOI window; they are shown as stored.
        """
        invert = self.invert if invert is None else invert
        if self.is_color:
            return 255 - self._values if invert else self._values.copy()
        window = window or self.default_window
        if window.lut_index is None:
            shown = self._values.map(lambda v: window_to_8bit(v, window))
        else:
            shown = self._values.map(lambda v: voi_lut_to_8bit(v, self.dataset, window.lut_index))
        if invert:
            np.subtract(255, shown, out=shown)
        return shown
