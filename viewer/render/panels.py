"""Side-by-side panels at full resolution, with optional titles, a header line and a caption line."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from viewer.errors import RenderError

from .overlay import as_rgb

BACKGROUND = (0, 0, 0)
TEXT_COLOR = (255, 255, 255)
WARNING_BACKGROUND = (170, 20, 20)  # NOT FOR DIAGNOSIS: white on dark red reads on any viewer and in print
FONT = cv2.FONT_HERSHEY_SIMPLEX
# cv2.putText draws ASCII only; these are the non-ASCII characters RadCAM's own captions use.
_ASCII_FOR = {"·": "|", "—": "-", "–": "-", "µ": "u", "°": " deg", "×": "x"}


def compose_panels(panels: Sequence[np.ndarray | tuple[str, np.ndarray]], titles: Sequence[str] | None = None,
                   caption: str | None = None, header: str | None = None, gap: int | None = None,
                   warning: str | None = None) -> np.ndarray:
    """Panels side by side, unscaled, as one uint8 (H, W, 3) RGB image.

    A panel is an image or a (title, image) pair; `titles` names them otherwise. Text goes in black bars: the
    header (patient/study line) and the titles above the panels, the caption below. Panels shorter than the
    tallest are padded at the bottom, never resized. Each line of `caption` is a bar of its own; `warning` (NOT
    FOR DIAGNOSIS) is a last bar in white on red.
    """
    if not panels:
        raise RenderError("compose_panels needs at least one panel")
    pairs = [item if isinstance(item, tuple) else (None, item) for item in panels]
    if titles is not None:
        if len(titles) != len(pairs):
            raise RenderError(f"{len(titles)} titles for {len(pairs)} panels")
        pairs = [(title, image) for title, (_, image) in zip(titles, pairs, strict=True)]
    images = [as_rgb(image) for _, image in pairs]
    height = max(image.shape[0] for image in images)
    gap = max(4, height // 100) if gap is None else gap
    scale = font_scale(height)

    row = filled((height, sum(i.shape[1] for i in images) + gap * (len(images) - 1), 3), BACKGROUND)
    offsets = []
    x = 0
    for image in images:
        row[:image.shape[0], x:x + image.shape[1]] = image
        offsets.append((x, image.shape[1]))
        x += image.shape[1] + gap

    width = row.shape[1]
    parts = []
    if header:
        parts.append(_text_bar(width, [(0, width, header)], scale, align_left=True))
    if any(title for title, _ in pairs):
        spans = [(x0, w, title or "") for (x0, w), (title, _) in zip(offsets, pairs, strict=True)]
        parts.append(_text_bar(width, spans, scale))
    parts.append(row)
    for line in (caption or "").splitlines():
        parts.append(_text_bar(width, [(0, width, line)], scale, align_left=True))
    if warning:
        parts.append(_text_bar(width, [(0, width, warning)], scale, background=WARNING_BACKGROUND))
    return np.vstack(parts) if len(parts) > 1 else row


def ascii_text(text: str) -> str:
    """`text` as cv2.putText can draw it: accents dropped, known symbols spelled out, anything else '?'."""
    text = "".join(_ASCII_FOR.get(ch, ch) for ch in text)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).encode("ascii", "replace").decode()


def filled(shape: tuple[int, ...], colour: tuple[int, ...]) -> np.ndarray:
    """np.full(shape, colour, np.uint8) for an (H, W, 3) image, about 50x faster: numpy broadcasts a 3-byte value
    pixel by pixel, a whole row at memory speed (a 10,000² export's bars and colour bar took seconds)."""
    row = np.empty(shape[1:], np.uint8)
    row[...] = colour
    out = np.empty(shape, np.uint8)
    out[...] = row
    return out


def font_scale(height: int) -> float:
    # HERSHEY_SIMPLEX at scale 1 is about 22 px tall: about 2.5 % of the panel height, readable when fitted.
    return max(0.4, height / 900)


@dataclass(frozen=True)
class PlacedText:
    """A text as a bar draws it: cv2.putText(bar, text, (x, y), FONT, scale, TEXT_COLOR, thickness, LINE_AA)."""

    text: str
    x: int
    y: int
    scale: float
    thickness: int
    width: int  # cv2.getTextSize's


def text_layout(cells: list[tuple[int, int, str]], scale: float, align_left: bool = False
                ) -> tuple[int, list[PlacedText]]:
    """A text bar's height and where each (x, cell width, text) is drawn, shrunk to fit its cell."""
    thickness = max(1, round(scale * 1.5))
    (_, text_h), baseline = cv2.getTextSize("Ag", FONT, scale, thickness)
    pad = max(2, text_h // 2)
    placed = []
    for x0, cell_w, text in cells:
        text = ascii_text(text)
        if not text:
            continue
        fitted = scale
        (text_w, _), _ = cv2.getTextSize(text, FONT, fitted, thickness)
        if cell_w - 2 * pad <= 0:
            continue  # no room inside its padding (a panel a few pixels wide): a scale <= 0 crashed OpenCV
        if text_w > cell_w - 2 * pad:
            fitted = scale * (cell_w - 2 * pad) / text_w
            (text_w, _), _ = cv2.getTextSize(text, FONT, fitted, thickness)
        x = x0 + pad if align_left else x0 + max(0, (cell_w - text_w) // 2)
        placed.append(PlacedText(text, x, pad + text_h, fitted, thickness, text_w))
    return text_h + baseline + 2 * pad, placed


def _text_bar(width: int, cells: list[tuple[int, int, str]], scale: float, align_left: bool = False,
              background: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    """A black bar `width` wide with each (x, cell width, text) drawn in its cell, shrunk to fit the cell."""
    height, placed = text_layout(cells, scale, align_left)
    bar = filled((height, width, 3), background)
    for item in placed:
        cv2.putText(bar, item.text, (item.x, item.y), FONT, item.scale, TEXT_COLOR, item.thickness, cv2.LINE_AA)
    return bar
