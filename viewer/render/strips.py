"""Panels as bands of rows made on demand, so an exporter streams a 10,000² image's panels to disk without holding
them whole: the heatmap, the overlay and the side-by-side composite are each 300–900 MB at full size.

Every band is pixel for pixel what the whole-image renderers make (heatmap, overlay, with_colorbar, compose_panels):
tests/test_render_strips.py holds them to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from viewer.errors import RenderError

from .colorbar import colorbar
from .colormaps import ColorMap, apply_lut, cam_indices
from .overlay import DEFAULT_CONTOUR_COLOR, as_rgb, contour_thickness_for
from .panels import BACKGROUND, _text_bar, font_scale

BAND_ROWS = 64  # rows per band: 6 MB of a 10,000² composite; 256 rows (23 MB) took 7x longer in page faults


@dataclass(frozen=True)
class Rows:
    """A uint8 image of `height` × `width` (× 3 when `channels` is 3) whose rows `read(top, bottom)` makes."""

    height: int
    width: int
    channels: int
    read: Callable[[int, int], np.ndarray]

    def bands(self, rows: int = BAND_ROWS) -> Iterator[np.ndarray]:
        for top in range(0, self.height, rows):
            yield self.read(top, min(top + rows, self.height))

    def whole(self) -> np.ndarray:
        return self.read(0, self.height)


def array_rows(image: np.ndarray) -> Rows:
    """An image already in memory, as rows (views, no copy)."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise RenderError(f"expected a uint8 grey or RGB image, got {image.dtype} {image.shape}")
    return Rows(image.shape[0], image.shape[1], 1 if image.ndim == 2 else image.shape[2],
                lambda top, bottom: image[top:bottom])


def lazy_rows(make: Callable[[], np.ndarray]) -> Rows:
    """An image `make()` makes when its first rows are read, let go once its last rows are: a 10,000² export's text
    bars are 17–49 MB each and are read in a moment (made once more here to learn the size)."""
    shape = make().shape
    held: list[np.ndarray] = []

    def read(top: int, bottom: int) -> np.ndarray:
        if not held:
            held.append(make())
        band = held[0][top:bottom]
        if bottom >= shape[0]:
            held.clear()
        return band

    return Rows(shape[0], shape[1], 1 if len(shape) == 2 else shape[2], read)


def heatmap_rows(indices: np.ndarray, colormap: ColorMap) -> Rows:
    """The heatmap of a CAM given as its LUT indices (colormaps.cam_indices of the whole CAM)."""
    return Rows(indices.shape[0], indices.shape[1], 3, lambda top, bottom: apply_lut(indices[top:bottom], colormap))


def overlay_rows(base: np.ndarray, cam: np.ndarray, indices: np.ndarray, threshold: float, alpha: float,
                 colormap: ColorMap, contour: bool, contour_color: tuple[int, int, int] = DEFAULT_CONTOUR_COLOR
                 ) -> Rows:
    """overlay.OverlayRenderer.render, band by band. The contour is traced on the whole mask (a band's edge is not
    the region's) and drawn once into a one-channel line mask: LINE_8 draws one colour on a fixed set of pixels,
    so painting that set afterwards is the same image."""
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise RenderError(f"overlay opacity must be between 0 and 1, not {alpha}")
    cam = np.ascontiguousarray(cam, dtype=np.float32)
    if cam.shape != base.shape[:2]:
        raise RenderError(f"the CAM is {cam.shape[1]}x{cam.shape[0]} but the image is {base.shape[1]}x{base.shape[0]}")
    lines = None
    if contour:
        mask = cv2.compare(cam, float(threshold), cv2.CMP_GE)  # type: ignore[call-overload]
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        del mask
        if contours:
            lines = np.zeros(cam.shape, np.uint8)
            cv2.drawContours(lines, contours, -1, 255, contour_thickness_for((*cam.shape, 3)), cv2.LINE_8)

    def read(top: int, bottom: int) -> np.ndarray:
        # An RGB base's rows are a view: copied, never painted over.
        out = base[top:bottom].copy() if base.ndim == 3 else as_rgb(base[top:bottom])
        blended = cv2.addWeighted(out, 1.0 - alpha, apply_lut(indices[top:bottom], colormap), alpha, 0.0)
        cv2.copyTo(blended, cv2.compare(cam[top:bottom], float(threshold), cv2.CMP_GE), out)  # type: ignore
        if lines is not None:
            out[lines[top:bottom] != 0] = contour_color
        return out

    return Rows(cam.shape[0], cam.shape[1], 3, read)


def _rgb_rows(image: Rows) -> Rows:
    return image if image.channels == 3 else Rows(image.height, image.width, 3,
                                                  lambda top, bottom: as_rgb(image.read(top, bottom)))


def colorbar_rows(panel: Rows, colormap: ColorMap, cam_threshold: float | None, bar: np.ndarray | None = None
                  ) -> Rows:
    """colorbar.with_colorbar, band by band (panels at least 48 px tall: a shorter one is padded there). `bar`:
    colorbar(panel.height, colormap, cam_threshold) made once for several panels (100 MB at 10,000 px tall)."""
    if panel.height < 48:
        raise RenderError("colorbar_rows needs a panel at least 48 px tall; use with_colorbar")
    bar = colorbar(panel.height, colormap, cam_threshold) if bar is None else bar
    rgb = _rgb_rows(panel)
    return Rows(panel.height, panel.width + bar.shape[1], 3,
                lambda top, bottom: np.hstack([rgb.read(top, bottom), bar[top:bottom]]))


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

    def row_band(top: int, bottom: int) -> np.ndarray:
        band = np.empty((bottom - top, width, 3), np.uint8)  # only the gaps and padding are background
        for x0, image in zip(offsets, images, strict=True):
            filled = max(0, min(bottom, image.height) - top)  # a shorter panel is padded at the bottom, never resized
            if filled:
                band[:filled, x0:x0 + image.width] = image.read(top, top + filled)
            band[filled:, x0:x0 + image.width] = BACKGROUND
            band[:, x0 + image.width:x0 + image.width + gap] = BACKGROUND
        return band

    def bar(cells: list[tuple[int, int, str]], **options) -> Rows:
        return lazy_rows(lambda: _text_bar(width, cells, scale, **options))

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
    parts = [*bars_above, Rows(height, width, 3, row_band), *bars_below]
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

    return Rows(int(starts[-1]), parts[0].width, parts[0].channels, read)


def indices_of(cam: np.ndarray) -> np.ndarray:
    """The CAM's colour-map indices once (a quarter of the float CAM), shared by the heatmap and overlay bands;
    made in bands too: cam_indices clips a float copy of what it is given (400 MB for a 10,000² CAM)."""
    if cam.ndim != 2:
        return cam_indices(cam)  # its one-line error
    out = np.empty(cam.shape, np.uint8)
    for top in range(0, cam.shape[0], 1024):
        out[top:top + 1024] = cam_indices(cam[top:top + 1024])
    return out
