"""Distances and the cardiothoracic ratio in millimetres, from the file's pixel spacing (no Qt).

Points are in the file's pixel grid (x to the right, y down, continuous), whatever the orientation on screen, so a
measurement stays on the anatomy through flips and turns. PixelSpacing (0028,0030) is [row spacing (between rows,
vertical), column spacing (horizontal)] in mm. Without it, ImagerPixelSpacing (0018,1164) is used: for a projection
radiograph it is measured at the detector, so distances are those of the shadow on the detector, magnified from the
patient by SID/SOD (about 10 % on a PA chest film).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Span = tuple[float, float, float, float]  # x0, y0, x1, y1 in the file's pixels


@dataclass(frozen=True)
class Spacing:
    row_mm: float  # between rows: the size of a pixel along y
    column_mm: float  # between columns: along x
    source: str  # "PixelSpacing" or "ImagerPixelSpacing"

    @property
    def note(self) -> str:
        return "at detector" if self.source == "ImagerPixelSpacing" else ""


def _pair(dataset: Any, keyword: str) -> tuple[float, float] | None:
    value = dataset.get(keyword) if dataset is not None else None
    try:
        row, column = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(row) and math.isfinite(column)) or row <= 0 or column <= 0:
        return None  # 0 or negative: the file does not know (CR plates often say 0)
    return row, column


def spacing(dataset: Any) -> Spacing | None:
    """The spacing to measure with; None (uncalibrated) when missing, 0 or malformed."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        pair = _pair(dataset, keyword)
        if pair is not None:
            return Spacing(pair[0], pair[1], keyword)
    return None


def length(span: Span, grid: Spacing | None) -> float:
    """The span's length in mm, or in pixels when uncalibrated."""
    x0, y0, x1, y1 = span
    sx, sy = (grid.column_mm, grid.row_mm) if grid else (1.0, 1.0)
    return math.hypot((x1 - x0) * sx, (y1 - y0) * sy)


def length_text(value: float, grid: Spacing | None) -> str:
    if grid is None:
        return f"{value:.0f} px (uncalibrated)"
    return f"{value:.1f} mm" + (f" ({grid.note})" if grid.note else "")


def horizontal(x0: float, y0: float, x1: float) -> Span:
    """A CTR width: horizontal in the file's grid (the patient's transverse axis on a chest film), at y0."""
    return min(x0, x1), y0, max(x0, x1), y0


@dataclass(frozen=True)
class Measurement:
    """A ruler (one span) or a cardiothoracic ratio (the cardiac span, then the thoracic one once drawn)."""

    kind: str  # "ruler" or "ctr"
    spans: tuple[Span, ...]

    def ratio(self) -> float | None:
        if self.kind != "ctr" or len(self.spans) < 2:
            return None
        thoracic = length(self.spans[1], None)
        return length(self.spans[0], None) / thoracic if thoracic > 0 else None

    def labels(self, grid: Spacing | None) -> list[str]:
        """One label per span, the ratio on the last one when both widths are drawn."""
        if self.kind == "ruler":
            return [length_text(length(span, grid), grid) for span in self.spans]
        names = ("Cardiac", "Thoracic")
        texts = [f"{name} {length_text(length(span, grid), grid)}" for name, span in zip(names, self.spans,
                                                                                     strict=False)]
        ratio = self.ratio()
        if ratio is not None:
            texts[-1] += f"  CTR {ratio:.2f}"
        return texts

    def complete(self) -> bool:
        return self.kind == "ruler" or len(self.spans) == 2


def summary(measurements: tuple[Measurement, ...], grid: Spacing | None) -> list[str]:
    """Every label of every measurement, for a record or a status line."""
    return [label for m in measurements for label in m.labels(grid)]
