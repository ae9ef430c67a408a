"""Panels as bands of rows made on demand, so an exporter streams a 10,000² image's panels to disk without holding
them whole: the heatmap, the overlay and the side-by-side composite are each 300–900 MB at full size.

Every band is pixel for pixel what the whole-image renderers make (heatmap, overlay, with_colorbar, compose_panels):
tests/test_large_export.py holds them to it. The heatmap's and the overlay's bands go into their own files and into
the side-by-side composite: a BandCache lets each be made once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from viewer.errors import RenderError

from .colorbar import colorbar
from .colormaps import ColorMap, apply_lut, cam_indices
from .overlay import DEFAULT_CONTOUR_COLOR, as_rgb, contour_thickness_for
from .panels import BACKGROUND, FONT, TEXT_COLOR, _text_bar, filled, font_scale, text_layout

BAND_ROWS = 64  # rows per band: 6 MB of a 10,000² composite; 256 rows (23 MB) took 7x longer in page faults
CACHED_ROWS = 4 * BAND_ROWS  # a taller read (a whole panel for a DICOM) is made, never kept


@dataclass(frozen=True)
class Rows:
    """A uint8 image of `height` × `width` (× 3 when `channels` is 3) whose rows `read(top, bottom)` makes. `cuts`:
    rows where one of its parts starts (a text bar, the panels): no band crosses one, so the panels' bands are the
    same rows in every file they go into (one BandCache entry each)."""

    height: int
    width: int
    channels: int
    read: Callable[[int, int], np.ndarray]
    cuts: tuple[int, ...] = ()

    def bands(self, rows: int = BAND_ROWS) -> Iterator[np.ndarray]:
        edges = [0, *sorted({cut for cut in self.cuts if 0 < cut < self.height}), self.height]
        for start, end in zip(edges, edges[1:], strict=False):
            for top in range(start, end, rows):
                yield self.read(top, min(top + rows, end))

    def whole(self) -> np.ndarray:
        return self.read(0, self.height)


def array_rows(image: np.ndarray) -> Rows:
    """An image already in memory, as rows (views, no copy)."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise RenderError(f"expected a uint8 grey or RGB image, got {image.dtype} {image.shape}")
    return Rows(image.shape[0], image.shape[1], 1 if image.ndim == 2 else image.shape[2],
                lambda top, bottom: image[top:bottom])


class BandCache:
    """Bands several files read, made once: the overlay's go into overlay.png and into the side-by-side composite.
    The last `size` are kept (a miss makes the band again: the same pixels, so the cache only saves time); kept bands
    are read-only. `reads` counts the reads, so a writer driving several files in step knows when one of them has
    reached the panels' rows (viewer.export.encode)."""

    def __init__(self, size: int = 12):
        self.size = size
        self.reads = 0
        self._bands: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, top: int, bottom: int, make: Callable[[int, int], np.ndarray]) -> np.ndarray:
        with self._lock:
            self.reads += 1
            band = self._bands.get((key, top, bottom))
            if band is not None:
                self._bands.move_to_end((key, top, bottom))
                return band
        band = make(top, bottom)
        if bottom - top > CACHED_ROWS:
            return band
        band.flags.writeable = False  # shared: a reader that paints on it would change another file
        with self._lock:
            self._bands[(key, top, bottom)] = band
            while len(self._bands) > self.size:
                self._bands.popitem(last=False)
        return band


def cached_rows(rows: Rows, key: Hashable, cache: BandCache | None) -> Rows:
    """`rows` read through `cache` under `key`."""
    if cache is None:
        return rows
    return Rows(rows.height, rows.width, rows.channels,
                lambda top, bottom: cache.get(key, top, bottom, rows.read), rows.cuts)


def text_margin(thickness: int) -> int:
    """Columns left either side of a text's measured width on its canvas: a glyph's overhang and antialiased edge."""
    return 4 * thickness + 8


def text_bar_rows(width: int, cells: list[tuple[int, int, str]], scale: float, align_left: bool = False,
                  background: tuple[int, int, int] = BACKGROUND) -> Rows:
    """panels._text_bar as Rows, its texts drawn on canvases about as wide as they are: whole, a 10,000² export's
    bars are 17-60 MB each, mostly background, and filling them cost more than deflating them. A text is drawn at
    the same point of the bar, translated by a whole number of columns (so by the same pixels); a canvas whose own
    edge (not the bar's) is inked may have cut a stroke: that bar is then drawn whole. The canvases are drawn when
    the bar's first rows are read and let go after its last (a long caption's is still 15 MB there)."""
    height, placed = text_layout(cells, scale, align_left)
    groups: list[list] = []  # [start, end, texts]; overlapping canvases become one, drawn in the bar's order
    for item in placed:
        margin = text_margin(item.thickness)
        start, end = max(0, item.x - margin), min(width, item.x + item.width + margin)
        if start >= end:
            continue  # wholly outside the bar: putText draws nothing there either
        joined = [group for group in groups if group[0] < end and start < group[1]]
        groups = [group for group in groups if not any(group is other for other in joined)]
        for group in joined:
            start, end = min(start, group[0]), max(end, group[1])
        groups.append([start, end, sorted([item, *(text for group in joined for text in group[2])],
                                          key=placed.index)])
    fill = np.asarray(background, np.uint8)
    blank = filled((width, 3), background)  # a row: copied row by row, it fills a band at memory speed
    held: list[list[tuple[int, np.ndarray]] | np.ndarray] = []

    def draw() -> list[tuple[int, np.ndarray]] | np.ndarray:
        canvases = []
        for start, end, texts in groups:
            canvas = filled((height, end - start, 3), background)
            for item in texts:
                cv2.putText(canvas, item.text, (item.x - start, item.y), FONT, item.scale, TEXT_COLOR,
                            item.thickness, cv2.LINE_AA)
            if (start > 0 and (canvas[:, 0] != fill).any()) or (end < width and (canvas[:, -1] != fill).any()):
                return _text_bar(width, cells, scale, align_left, background)
            canvases.append((start, canvas))
        return canvases

    def read(top: int, bottom: int) -> np.ndarray:
        if not held:
            held.append(draw())
        drawn = held[0]
        if bottom >= height:
            held.clear()
        if isinstance(drawn, np.ndarray):  # the whole bar
            return drawn[top:bottom]
        band = np.empty((bottom - top, width, 3), np.uint8)
        band[...] = blank
        for start, canvas in drawn:
            band[:, start:start + canvas.shape[1]] = canvas[top:bottom]
        return band

    return Rows(height, width, 3, read)


def row_runs(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct, index): each run of equal rows of `image` once, and each row's run (image == distinct[index])."""
    height = image.shape[0]
    change = np.ones(height, bool)
    for top in range(1, height, 1024):  # compared in slices: one whole comparison is 100 MB of booleans
        bottom = min(top + 1024, height)
        change[top:bottom] = (image[top:bottom] != image[top - 1:bottom - 1]).reshape(bottom - top, -1).any(axis=1)
    return image[change], np.cumsum(change) - 1


def repeated_rows(image: np.ndarray) -> Rows:
    """An image kept as its runs of equal rows (row_runs): a 10,000 px tall colour bar (100 MB) changes every ~40
    rows of its scale and at its labels, about a tenth of that."""
    distinct, index = row_runs(image)
    channels = 1 if image.ndim == 2 else image.shape[2]
    return Rows(image.shape[0], image.shape[1], channels, lambda top, bottom: distinct[index[top:bottom]])


def heatmap_rows(cam: np.ndarray, colormap: ColorMap, cache: BandCache | None = None) -> Rows:
    """The heatmap of a CAM, each band's colour-map indices made from its own rows (cam_indices is per pixel)."""
    if cam.ndim != 2:
        cam_indices(cam)  # its one-line error
    rows = Rows(cam.shape[0], cam.shape[1], 3,
                lambda top, bottom: apply_lut(cam_indices(cam[top:bottom]), colormap))
    return cached_rows(rows, "heatmap", cache)


def overlay_rows(base: np.ndarray, cam: np.ndarray, threshold: float, alpha: float, colormap: ColorMap,
                 contour: bool, contour_color: tuple[int, int, int] = DEFAULT_CONTOUR_COLOR,
                 cache: BandCache | None = None) -> Rows:
    """overlay.OverlayRenderer.render, band by band (its heatmap bands read through `cache`, shared with the heatmap
    panel's). The contour is traced on the whole mask (a band's edge is not the region's) and drawn once into a line
    mask, kept a bit a pixel: LINE_8 draws one colour on a fixed set of pixels, so painting that set afterwards is
    the same image."""
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise RenderError(f"overlay opacity must be between 0 and 1, not {alpha}")
    cam = np.ascontiguousarray(cam, dtype=np.float32)
    if cam.shape != base.shape[:2]:
        raise RenderError(f"the CAM is {cam.shape[1]}x{cam.shape[0]} but the image is {base.shape[1]}x{base.shape[0]}")
    heat = heatmap_rows(cam, colormap, cache)
    lines = contour_lines(cam, threshold, contour_thickness_for((*cam.shape, 3))) if contour else None

    def read(top: int, bottom: int) -> np.ndarray:
        # An RGB base's rows are a view: copied, never painted over.
        out = base[top:bottom].copy() if base.ndim == 3 else as_rgb(base[top:bottom])
        blended = cv2.addWeighted(out, 1.0 - alpha, heat.read(top, bottom), alpha, 0.0)
        cv2.copyTo(blended, cv2.compare(cam[top:bottom], float(threshold), cv2.CMP_GE), out)  # type: ignore
        if lines is not None:
            y0, x0, packed, width = lines
            low, high = max(top, y0), min(bottom, y0 + packed.shape[0])
            if low < high:
                hit = np.unpackbits(packed[low - y0:high - y0], axis=1, count=width).view(bool)
                out[low - top:high - top, x0:x0 + width][hit] = contour_color
        return out

    return cached_rows(Rows(cam.shape[0], cam.shape[1], 3, read), "overlay", cache)


def contour_lines(cam: np.ndarray, threshold: float, thickness: int
                  ) -> tuple[int, int, np.ndarray, int] | None:
    """The overlay's contour as (top, left, line mask a bit a pixel, its width) over the region the CAM reaches
    `threshold` in, None where it reaches it nowhere. Traced and drawn on that region's box only: the whole mask, a
    copy findContours makes of it and the line mask were 100 MB each at 10,000². The box keeps a row and column of
    zeros round the region (findContours pads an image with zeros: the same contours, shifted), and the lines a
    margin wider than their thickness (so that none is cut where the whole image would not cut it)."""
    height, width = cam.shape
    rows, columns = np.zeros(height, bool), np.zeros(width, bool)
    for top in range(0, height, 1024):
        strip = cv2.compare(cam[top:top + 1024], float(threshold), cv2.CMP_GE)  # type: ignore[call-overload]
        rows[top:top + 1024] = strip.any(axis=1)
        columns |= strip.any(axis=0)
    if not rows.any():
        return None
    (y0, y1), (x0, x1) = ((int(found[0]), int(found[-1]) + 1) for found in (np.flatnonzero(rows),
                                                                            np.flatnonzero(columns)))
    y0, x0, y1, x1 = max(y0 - 1, 0), max(x0 - 1, 0), min(y1 + 1, height), min(x1 + 1, width)
    mask = cv2.compare(cam[y0:y1, x0:x1], float(threshold), cv2.CMP_GE)  # type: ignore[call-overload]
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0))
    del mask
    if not contours:
        return None
    margin = thickness + 4
    top, left = max(y0 - margin, 0), max(x0 - margin, 0)
    drawn = np.zeros((min(y1 + margin, height) - top, min(x1 + margin, width) - left), np.uint8)
    cv2.drawContours(drawn, contours, -1, 1, thickness, cv2.LINE_8, offset=(-left, -top))
    return top, left, np.packbits(drawn, axis=1), drawn.shape[1]


def _rgb_rows(image: Rows) -> Rows:
    return image if image.channels == 3 else Rows(image.height, image.width, 3,
                                                  lambda top, bottom: as_rgb(image.read(top, bottom)), image.cuts)


def colorbar_rows(panel: Rows, colormap: ColorMap, cam_threshold: float | None, bar: np.ndarray | Rows | None = None
                  ) -> Rows:
    """colorbar.with_colorbar, band by band (panels at least 48 px tall: a shorter one is padded there). `bar`:
    colorbar(panel.height, colormap, cam_threshold) made once for several panels (100 MB at 10,000 px tall: give it
    as repeated_rows, a tenth of that)."""
    if panel.height < 48:
        raise RenderError("colorbar_rows needs a panel at least 48 px tall; use with_colorbar")
    bar = colorbar(panel.height, colormap, cam_threshold) if bar is None else bar
    bar_rows = bar if isinstance(bar, Rows) else array_rows(bar)
    rgb = _rgb_rows(panel)
    return Rows(panel.height, panel.width + bar_rows.width, 3,
                lambda top, bottom: np.hstack([rgb.read(top, bottom), bar_rows.read(top, bottom)]), panel.cuts)


def compose_rows(panels: Sequence[Rows], titles: Sequence[str] | None = None, caption: str | None = None,
                 header: str | None = None, warning: str | None = None) -> Rows:
    """panels.compose_panels, band by band: header, titles, the panels side by side, caption lines, warning."""
    if not panels:
        raise RenderError("compose_rows needs at least one panel")
    images = [_rgb_rows(panel) for panel in panels]
    height = max(image.height for image in images)
    gap = max(4, height // 100)
    scale = font_scale(height)
    offsets, x = [], 0
    for image in images:
        offsets.append(x)
        x += image.width + gap
    width = x - gap
    black = filled((max(image.width for image in images) + gap, 3), BACKGROUND)  # rows to fill gaps and padding

    def row_band(top: int, bottom: int) -> np.ndarray:
        band = np.empty((bottom - top, width, 3), np.uint8)  # only the gaps and padding are background
        for x0, image in zip(offsets, images, strict=True):
            filled = max(0, min(bottom, image.height) - top)  # a shorter panel is padded at the bottom, never resized
            if filled:
                band[:filled, x0:x0 + image.width] = image.read(top, top + filled)
            band[filled:, x0:x0 + image.width] = black[:image.width]
            after = band[:, x0 + image.width:x0 + image.width + gap]  # none after the last panel
            after[...] = black[:after.shape[1]]
        return band

    def bar(cells: list[tuple[int, int, str]], **options) -> Rows:
        return text_bar_rows(width, cells, scale, **options)

    bars_above, bars_below = [], []
    if header:
        bars_above.append(bar([(0, width, header)], align_left=True))
    if titles and any(titles):
        bars_above.append(bar([(x0, image.width, title or "")
                               for x0, image, title in zip(offsets, images, titles, strict=True)]))
    for line in (caption or "").splitlines():
        bars_below.append(bar([(0, width, line)], align_left=True))
    if warning:
        from .panels import WARNING_BACKGROUND

        bars_below.append(bar([(0, width, warning)], background=WARNING_BACKGROUND))
    cuts = tuple(cut for image in images for cut in (*image.cuts, image.height))  # where a shorter one is padded
    parts = [*bars_above, Rows(height, width, 3, row_band, cuts), *bars_below]
    return stack_rows(parts)


def stack_rows(parts: Sequence[Rows]) -> Rows:
    """Parts of one width one above the other."""
    if len(parts) == 1:
        return parts[0]
    starts = np.cumsum([0] + [part.height for part in parts])

    def read(top: int, bottom: int) -> np.ndarray:
        pieces = []
        for part, start in zip(parts, starts[:-1], strict=True):
            low, high = max(top, start), min(bottom, start + part.height)
            if low < high:
                pieces.append(part.read(int(low - start), int(high - start)))
        return pieces[0] if len(pieces) == 1 else np.vstack(pieces)

    cuts = tuple(int(start + cut) for part, start in zip(parts, starts[:-1], strict=True) for cut in (0, *part.cuts))
    return Rows(int(starts[-1]), parts[0].width, parts[0].channels, read, cuts)
