"""One displayable frame: modality values kept once, rendered to 8 bits for any window without decoding again."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import Dataset

from ..errors import StudyError
from .windows import Window, voi_lut_to_8bit, window_to_8bit

# Integer pixel ranges up to this many distinct values render through a per-value lookup table.
MAX_LUT_ENTRIES = 1 << 20
HISTOGRAM_CHUNK = 1 << 22  # pixels per bincount call: 32 MB of int64 at a time
TAKE_CHUNK = 1 << 18  # pixels per gather of a render: 2 MB of intp indices at a time


class GreyValues:
    """Greyscale modality values stored as a per-value table plus an index image when the stored pixels are integers.

    A window is then computed on at most 2**BitsStored table entries and gathered with one take(), which keeps
    render() of a 2048x2048 frame in milliseconds; other data (float pixels, huge ranges) is windowed per pixel.
    Memory stays near the stored frame's size: no full-size int64 or float copy is made unless `array` is asked for.
    """

    def __init__(self, stored: np.ndarray, to_modality: Callable[[np.ndarray], np.ndarray]):
        if not stored.dtype.isnative:  # big-endian files decode to '>u2'/'>i2'; ufuncs take no byte order in dtype=
            stored = stored.astype(stored.dtype.newbyteorder("="))
        self.index: np.ndarray | None = None
        self.shape = stored.shape
        integral = stored.size > 0 and np.issubdtype(stored.dtype, np.integer)
        low, high = (int(stored.min()), int(stored.max())) if integral else (0, 0)
        self.low = low
        if integral and high - low < MAX_LUT_ENTRIES:
            # stored - low in the stored type wraps for signed data, but the true result lies in 0..high-low, so
            # the wrapped bits read as unsigned of the same width are exact (and no int64 copy of the frame is made);
            # that view matters for int8, whose cast to uint16 would sign-extend -1 to 65535.
            offset = np.subtract(stored, np.asarray(low, dtype=stored.dtype), dtype=stored.dtype)
            offset = offset.view(stored.dtype.str.replace("i", "u"))
            self.index = offset.astype(np.uint16 if high - low < 1 << 16 else np.uint32, copy=False)
            self.table = np.asarray(to_modality(np.arange(low, high + 1, dtype=np.int64)), dtype=np.float64)
        else:
            self.table = np.asarray(to_modality(stored), dtype=np.float64)
        self._stored = stored if self.index is None else None  # padding is defined on stored values

    @functools.cached_property
    def array(self) -> np.ndarray:
        """The float32 modality value of every pixel (made on first use: it is 4 bytes a pixel)."""
        return self.table.astype(np.float32) if self.index is None else self.table.astype(np.float32)[self.index]

    def percentiles(self, q: tuple[float, ...], exclude_stored: tuple[int, int] | None = None) -> np.ndarray | None:
        """np.percentile (linear) of the modality values, leaving out stored values in `exclude_stored` (padding).

        Through the index this is a histogram of at most 2**20 bins, not a sort of every pixel. None if no value
        is left.
        """
        if self.index is None:
            keep = np.isfinite(self.table)  # NaN/inf (float pixel data) would make every window NaN
            if exclude_stored is not None:
                assert self._stored is not None  # kept whenever there is no index
                keep &= (self._stored < exclude_stored[0]) | (self._stored > exclude_stored[1])
            values = self.table[keep]  # a copy already: percentile may sort it in place
            if not values.size:
                return None
            found: np.ndarray = np.percentile(values, q, overwrite_input=True)
            return found
        counts = self._counts.copy()
        if exclude_stored is not None:
            first, last = exclude_stored[0] - self.low, exclude_stored[1] - self.low
            if last >= 0:
                counts[max(first, 0):last + 1] = 0
        order = np.argsort(self.table, kind="stable")
        ends = np.cumsum(counts[order])
        total = int(ends[-1])
        if total == 0:
            return None
        positions = (total - 1) * np.asarray(q, np.float64) / 100  # numpy's linear method: h = (n - 1) q
        below = np.floor(positions)
        sorted_values = self.table[order]
        at: np.ndarray = sorted_values[np.searchsorted(ends, below, side="right")]
        after: np.ndarray = sorted_values[np.searchsorted(ends, np.minimum(below + 1, total - 1), side="right")]
        between: np.ndarray = at + (positions - below) * (after - at)
        return between

    @functools.cached_property
    def _counts(self) -> np.ndarray:
        """Pixels per table entry, non-finite entries counted as none (made once: the auto window and the window
        drag's span both need it, and it is a pass over every pixel)."""
        assert self.index is not None  # only asked for through the index
        counts = np.zeros(self.table.size, np.int64)
        flat = self.index.ravel()
        for start in range(0, flat.size, HISTOGRAM_CHUNK):  # bincount copies its input as int64: bound that copy
            counts += np.bincount(flat[start:start + HISTOGRAM_CHUNK], minlength=self.table.size)
        counts[~np.isfinite(self.table)] = 0  # a modality LUT/rescale can make NaN too
        return counts

    def span(self) -> float:
        """Highest minus lowest modality value present (the range a window drag can usefully cover); 1 when no
        finite value is (an empty or all-NaN frame)."""
        ends = self.percentiles((0.0, 100.0))
        return 1.0 if ends is None else float(ends[1] - ends[0])

    def map(self, to_8bit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Apply `to_8bit` (modality values -> 0..255 floats) and return the uint8 image."""
        # NaN modality values (float pixel data) show as 0: casting NaN to uint8 is undefined.
        rounded = np.clip(np.rint(to_8bit(self.table)), 0, 255)
        lut: np.ndarray = np.nan_to_num(rounded, copy=False, nan=0.0).astype(np.uint8)
        if self.index is None:
            return lut
        index = self.index
        if not index.flags.c_contiguous:
            gathered: np.ndarray = lut[index]
            return gathered
        # lut[index], 2-3x faster: np.take in bands (it copies the uint16 index as intp, 8 bytes a pixel: a whole
        # 10,000² frame's would be 800 MB); 'clip' never clips here (index <= high - low) and is not buffered.
        shown = np.empty(index.shape, np.uint8)
        flat, out = index.reshape(-1), shown.reshape(-1)
        for start in range(0, flat.size, TAKE_CHUNK):
            np.take(lut, flat[start:start + TAKE_CHUNK], out=out[start:start + TAKE_CHUNK], mode="clip")
        return shown


class DisplayImage:
    """One frame of one file, as the viewer shows it (see docs/ARCHITECTURE.md, `viewer.io` contract)."""

    def __init__(self, *, path: Path, frame: int, frames: int, kind: str, values: GreyValues | np.ndarray,
                 windows: list[Window], invert: bool, metadata: dict[str, Any], dataset: Dataset | None = None,
                 last_window: Callable[[], Window] | None = None):
        """`last_window`: the window listed after `windows`, made when the list is first asked for (the automatic
        window is a histogram of every pixel, 1.5 ms at 1024², unneeded when the file's own window is the
        default); a picklable callable (functools.partial), as the image travels between processes."""
        self.path = path
        self.frame = frame
        self.frames = frames
        self.kind = kind
        self._values = values
        self._given = windows
        self._last_window = last_window
        self._windows: list[Window] | None = None if last_window is not None else windows
        self.invert = invert
        self.metadata = metadata
        self.dataset = dataset

    _released: tuple[bool, tuple[int, ...]] | None = None  # (is_color, shape) once release_pixels was called

    def release_pixels(self) -> None:
        """Let the decoded pixels go once the caller holds what it rendered (a 10,000² 16-bit film's are 200 MB, held
        by a batch until its files are written); the header, metadata, shape and the windows made so far stay. An
        automatic window not made yet is not listed any more: it is a histogram of every pixel (1.5 ms at 1024²),
        which a batch would pay for every image to list a window nothing reads. render() and modality raise
        after it."""
        if self._windows is None:
            self._windows, self._last_window = self._given, None
        self._released = (self.is_color, self.shape)
        self._values = np.empty(0, np.uint8)

    def _check_pixels(self) -> None:
        if self._released is not None:
            raise StudyError(f"{self.path}: its pixels were released after rendering; open it again")

    @property
    def is_color(self) -> bool:
        return self._released[0] if self._released is not None else isinstance(self._values, np.ndarray)

    @property
    def shape(self) -> tuple[int, ...]:
        """(rows, columns), plus 3 for RGB."""
        return self._released[1] if self._released is not None else self._values.shape

    def value_span(self) -> float:
        """Range of the modality values (255 for colour), without materialising them."""
        self._check_pixels()
        return 255.0 if isinstance(self._values, np.ndarray) else self._values.span()

    @property
    def modality(self) -> np.ndarray:
        """float32 (H, W) modality values, or uint8 (H, W, 3) RGB."""
        self._check_pixels()
        return self._values if isinstance(self._values, np.ndarray) else self._values.array

    @property
    def windows(self) -> list[Window]:
        """The file's windows, then the automatic one (made on first use)."""
        windows = self._windows
        if windows is None:
            assert self._last_window is not None
            # Two threads may both make it: each sets an equal list from the same given ones.
            windows = self._windows = [*self._given, self._last_window()]
        return windows

    @property
    def default_window(self) -> Window:
        return self._given[0] if self._given else self.windows[0]

    def render(self, window: Window | None = None, invert: bool | None = None) -> np.ndarray:
        """The uint8 image the viewer shows: window (the default one if None), then inversion if asked/needed.

        Colour images have no VOI window; they are shown as stored.
        """
        self._check_pixels()
        invert = self.invert if invert is None else invert
        if isinstance(self._values, np.ndarray):  # colour
            colour: np.ndarray = 255 - self._values if invert else self._values.copy()
            return colour
        shown_window = window or self.default_window
        lut_index, dataset = shown_window.lut_index, self.dataset
        if lut_index is None:
            shown = self._values.map(lambda v: window_to_8bit(v, shown_window))
        else:
            assert dataset is not None  # a VOI LUT window comes from the file's data set
            shown = self._values.map(lambda v: voi_lut_to_8bit(v, dataset, lut_index))
        if invert:
            np.subtract(255, shown, out=shown)
        return shown
