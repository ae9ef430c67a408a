"""Every finding at once, on the original: each finding's thresholded region as a contour in its own colour, its
label and score beside it, and a legend (as chest X-ray AI products show several findings).

Colours are Okabe & Ito's colour-blind-safe palette (Okabe & Ito 2008, "Color Universal Design"), without its
black, which would vanish on a radiograph: distinguishable under protanopia, deuteranopia and tritanopia. Each line
is drawn over a black one a little wider, so it reads on bright bone and dark lung alike. More than seven
findings reuse the colours in order; their labels still say which is which.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .overlay import as_rgb, contour_thickness_for
from .panels import FONT, ascii_text

# Okabe-Ito, RGB, in the order they are handed out: the brightest first, which read best on a grey film.
OKABE_ITO = (
    ("orange", (230, 159, 0)),
    ("sky blue", (86, 180, 233)),
    ("bluish green", (0, 158, 115)),
    ("yellow", (240, 228, 66)),
    ("vermillion", (213, 94, 0)),
    ("reddish purple", (204, 121, 167)),
    ("blue", (0, 114, 178)),
)
HALO = (0, 0, 0)
NO_FINDING = "No finding above its decision threshold"

Item = tuple[str, float, np.ndarray]  # (label, score, CAM in [0, 1] at the image's size)


PER_LINE = 3  # findings named on one caption line: 14 CheXNet findings on one line shrank it to ~4 px text


def findings_caption(items: Sequence[Item], method: str, model: str, threshold: float,
                     decision: dict[str, float]) -> str:
    """What an All findings export is: the findings and how they were made, then both thresholds (each finding's
    decision threshold, the CAM threshold of the outlines) by their full names. More than PER_LINE findings go
    on lines of their own, so every line keeps a legible size in the caption bar."""
    from .colorbar import CAM_THRESHOLD_LABEL

    found = [f"{label} {score:.3f}" for label, score, _ in items]
    decisions = [f"{label} {decision.get(label, 0.5):.2f}" for label, _, _ in items]
    thresholds = f"{CAM_THRESHOLD_LABEL} {threshold:.2f} · decision thresholds:"
    if len(items) <= PER_LINE:
        return (f"All findings ({', '.join(found) or 'none'}) · {method} · model {model}\n"
                f"{thresholds} {', '.join(decisions) or '-'}")
    return "\n".join([f"All findings ({len(items)}) · {method} · model {model}", *_rows(found), thresholds,
                      *_rows(decisions)])


def _rows(parts: Sequence[str]) -> list[str]:
    return [", ".join(parts[i:i + PER_LINE]) for i in range(0, len(parts), PER_LINE)]


def finding_colour(rank: int) -> tuple[int, int, int]:
    """The colour of the `rank`-th finding drawn (0: the best score)."""
    return OKABE_ITO[rank % len(OKABE_ITO)][1]


def region(cam: np.ndarray, threshold: float) -> np.ndarray:
    """uint8 (H, W): 255 where the CAM reaches `threshold` (as the single-finding overlay thresholds it)."""
    return cv2.compare(np.ascontiguousarray(cam, np.float32), float(threshold), cv2.CMP_GE)  # type: ignore[call-overload]


def draw_findings(base: np.ndarray, items: Sequence[Item], threshold: float, thickness: int | None = None,
                  legend: bool = True) -> np.ndarray:
    """A new uint8 (H, W, 3) RGB image: `base` with each item's region (CAM ≥ `threshold`) outlined in its
    colour, 'label 0.87' beside the outline, and a legend in the lower left corner."""
    out = as_rgb(base).copy()
    line = thickness or max(2, 2 * contour_thickness_for(out.shape))
    scale = max(0.45, out.shape[0] / 1100)
    weight = max(1, round(scale * 1.6))
    places = []
    for rank, (label, score, cam) in enumerate(items):
        colour = finding_colour(rank)
        contours, _ = cv2.findContours(region(cam, threshold), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            continue
        cv2.drawContours(out, contours, -1, HALO, line + 2 * max(1, line // 2), cv2.LINE_AA)
        cv2.drawContours(out, contours, -1, colour, line, cv2.LINE_AA)
        x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
        places.append((f"{label} {score:.2f}", colour, (x, y, w, h)))
    taken: list[tuple[int, int, int, int]] = []
    for text, colour, box in places:
        taken.append(_label(out, text, colour, box, scale, weight, taken))
    if legend:  # also without findings: the reader must see that none reached its threshold, not a blank overlay
        _legend(out, items, threshold, scale, weight)
    return out


def _label(out: np.ndarray, text: str, colour: tuple[int, int, int], box: tuple[int, int, int, int], scale: float,
           weight: int, taken: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """'label score' on a dark backing just above the region (below it when there is no room, moved down past
    labels already placed), inside the image; returns the backing's rectangle."""
    text = ascii_text(text)
    (w, h), base_line = cv2.getTextSize(text, FONT, scale, weight)
    pad = max(2, h // 4)
    bw, bh = w + 2 * pad, h + base_line + 2 * pad
    x, y, _, rh = box
    top = y - bh - pad if y - bh - pad >= 0 else min(y + rh + pad, out.shape[0] - bh)
    left = int(np.clip(x, 0, max(0, out.shape[1] - bw)))
    while any(_overlap((left, top, bw, bh), other) for other in taken) and top + bh < out.shape[0]:
        top += bh
    top = int(np.clip(top, 0, max(0, out.shape[0] - bh)))
    _backing(out, left, top, bw, bh)
    cv2.putText(out, text, (left + pad, top + pad + h), FONT, scale, colour, weight, cv2.LINE_AA)
    return left, top, bw, bh


def _legend(out: np.ndarray, items: Sequence[Item], threshold: float, scale: float, weight: int) -> None:
    """The findings, best first, each with its colour swatch and score; the last line names the contour's CAM
    threshold (findings themselves are those at or above their decision thresholds)."""
    lines: list[tuple[str, tuple[int, int, int] | None]] = [
        (ascii_text(f"{label} {score:.2f}"), finding_colour(rank)) for rank, (label, score, _) in enumerate(items)]
    lines.append((ascii_text(f"contour: CAM >= {threshold:.2f}") if items else NO_FINDING, None))
    (_, h), base_line = cv2.getTextSize("Ag", FONT, scale, weight)
    step = h + base_line + max(2, h // 3)
    swatch = 2 * h
    pad = max(3, h // 2)
    width = max(cv2.getTextSize(text, FONT, scale, weight)[0][0] for text, _ in lines) + swatch + 3 * pad
    height = step * len(lines) + pad
    left, top = pad, max(0, out.shape[0] - height - pad)
    _backing(out, left, top, width, height)
    for i, (text, colour) in enumerate(lines):
        y = top + pad + i * step + h
        x = left + pad
        if colour is not None:
            cv2.line(out, (x, y - h // 2), (x + swatch - pad, y - h // 2), colour, max(2, h // 4), cv2.LINE_AA)
            x += swatch
        cv2.putText(out, text, (x, y), FONT, scale, colour or (255, 255, 255), weight, cv2.LINE_AA)


def _backing(out: np.ndarray, left: int, top: int, width: int, height: int) -> None:
    """Darken a rectangle to 25 % so the text on it reads on any image."""
    patch = out[top:top + height, left:left + width]
    patch[:] = (patch.astype(np.uint16) // 4).astype(np.uint8)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
