"""VOI windows: what a window is, how one becomes an 8-bit lookup (through pydicom), and the automatic one."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
from pydicom import Dataset
from pydicom.pixels import apply_voi, apply_windowing

from .failures import describe

if TYPE_CHECKING:
    from .image import GreyValues

VoiFunction = Literal["LINEAR", "LINEAR_EXACT", "SIGMOID"]  # VOI LUT Function (0028,1056) values RadCAM applies
FUNCTIONS: tuple[VoiFunction, ...] = get_args(VoiFunction)
AUTO = "auto"
# Percentiles of the (unpadded) modality values that become the automatic window's ends.
AUTO_PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class Window:
    """A VOI window in modality units; with `lut_index` a VOI LUT Sequence item whose input range is center/width."""

    center: float
    width: float
    explanation: str
    function: VoiFunction = "LINEAR"
    lut_index: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.center) and math.isfinite(self.width)):  # NaN would render every pixel black
            raise ValueError(f"window centre and width must be finite numbers, not {self.center}, {self.width}")
        if self.function not in FUNCTIONS:
            raise ValueError(f"VOI LUT function must be one of {', '.join(FUNCTIONS)}, not {self.function!r}")
        # PS3.3 C.11.2.1.2: LINEAR needs a width of at least 1, the other functions more than 0.
        if self.lut_index is None and not (self.width >= 1 if self.function == "LINEAR" else self.width > 0):
            raise ValueError(f"window width {self.width} is invalid for {self.function} (LINEAR needs >= 1, "
                             "the others > 0)")

    def as_dict(self) -> dict[str, Any]:
        return {"center": self.center, "width": self.width, "explanation": self.explanation,
                "function": self.function}


def covering(low: float, high: float, explanation: str = AUTO) -> Window:
    """The LINEAR window that maps `low` (and below) to 0 and `high` (and above) to 255.

    DICOM LINEAR uses center - 0.5 and width - 1, so ends low..high need width high - low + 1;
    for 0..255 this is 128/256, which maps every 8-bit value onto itself.
    """
    # low / 2 + high / 2: the sum of two huge float pixel values would overflow to inf.
    width = high - low + 1  # overflows to inf for float pixels near +-1.8e308: the widest finite window then
    return Window(center=low / 2 + high / 2 + 0.5, width=min(max(width, 1.0), sys.float_info.max),
                  explanation=explanation)


def auto_window(values: GreyValues, exclude_stored: tuple[int, int] | None = None) -> Window:
    """Window from the AUTO_PERCENTILES of the values not in `exclude_stored` (padding); 0..1 if none are left."""
    ends = values.percentiles(AUTO_PERCENTILES, exclude_stored)
    return covering(0.0, 1.0) if ends is None else covering(float(ends[0]), float(ends[1]))


def window_to_8bit(values: np.ndarray, window: Window) -> np.ndarray:
    """pydicom's windowing of `values` to 0..255 (float64).

    apply_windowing takes its output range from BitsStored/PixelRepresentation/Rescale of the dataset
    it is given, so a minimal unsigned 8-bit dataset without rescale makes it produce 0..255 directly.
    """
    voi = Dataset()
    voi.PhotometricInterpretation = "MONOCHROME2"
    voi.BitsStored = 8
    voi.PixelRepresentation = 0
    voi.WindowCenter = window.center
    voi.WindowWidth = window.width
    voi.VOILUTFunction = window.function
    return apply_windowing(values, voi)


def voi_lut_to_8bit(values: np.ndarray, ds: Dataset, index: int) -> np.ndarray:
    """pydicom's VOI LUT Sequence item `index` applied to `values`, scaled from the LUT's output range to 0..255."""
    first_map, entries, bits = _descriptor(ds.VOILUTSequence[index])
    # The LUT's input is integral; clipping first keeps pydicom's uint8/uint16 index buffer from wrapping.
    inputs = np.clip(np.rint(values), first_map, first_map + entries - 1).astype(np.int64)
    scaled: np.ndarray = apply_voi(inputs, ds, index).astype(np.float64) * (255.0 / (2**bits - 1))
    return scaled


def lut_windows(ds: Dataset, notes: list[str]) -> list[Window]:
    """One Window per VOI LUT Sequence item, describing the item's input range; a damaged item is left out with a
    note (it would otherwise fail only when rendered, outside the one-line error handling of opening)."""
    windows = []
    for i, item in enumerate(ds.get("VOILUTSequence") or []):
        try:
            first_map, entries, _ = _descriptor(item)
            voi_lut_to_8bit(np.array([first_map, first_map + entries - 1], np.float64), ds, i)  # pydicom's checks
            explanation = str(item.get("LUTExplanation") or f"VOI LUT {i + 1}")
        except Exception as exc:  # noqa: BLE001 - 0 bits per entry, no LUT data, ...: the image still shows
            notes.append(f"VOI LUT {i + 1} ignored: {describe(exc)}")
            continue
        windows.append(Window(center=first_map + entries / 2, width=float(entries), explanation=explanation,
                              lut_index=i))
    return windows


def _descriptor(item: Dataset) -> tuple[int, int, int]:
    entries, first_map, bits = (int(v) for v in item.LUTDescriptor)
    return first_map, entries or 2**16, bits
