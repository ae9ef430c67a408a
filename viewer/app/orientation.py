"""How the image is turned on screen (flips, quarter turns) and which patient direction each edge faces.

One value, `Orientation`, is applied to every panel, to the exported panels and to the edge labels. It is a 2x2
integer matrix taking a direction in the file's pixel grid (x right, y down) to one on screen; flips and turns
compose by matrix product, so any sequence of H, V and Ctrl+R presses reduces to one of eight values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Matrix = tuple[int, int, int, int]  # (a, b, c, d): screen = [[a, b], [c, d]] @ image, y pointing down
_IDENTITY: Matrix = (1, 0, 0, 1)
_FLIP_H: Matrix = (-1, 0, 0, 1)
_FLIP_V: Matrix = (1, 0, 0, -1)
_CLOCKWISE: Matrix = (0, -1, 1, 0)  # with y down: the right edge goes to the bottom
_COUNTER: Matrix = (0, 1, -1, 0)
EDGES = {"right": (1, 0), "left": (-1, 0), "bottom": (0, 1), "top": (0, -1)}
_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"}


def _product(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d = m
    e, f, g, h = n
    return a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h


@dataclass(frozen=True)
class Orientation:
    matrix: Matrix = _IDENTITY

    def then(self, step: Matrix) -> Orientation:
        return Orientation(_product(step, self.matrix))

    def flipped_h(self) -> Orientation:
        """Mirror left-right as seen on screen (after any turn)."""
        return self.then(_FLIP_H)

    def flipped_v(self) -> Orientation:
        return self.then(_FLIP_V)

    def rotated(self, clockwise: bool = True) -> Orientation:
        return self.then(_CLOCKWISE if clockwise else _COUNTER)

    @property
    def mirrored(self) -> bool:
        a, b, c, d = self.matrix
        return a * d - b * c < 0

    @property
    def quarter_turns(self) -> int:
        """Clockwise quarter turns after a horizontal flip (when mirrored): matrix = R^k (@ F_H)."""
        rotation = _product(self.matrix, _FLIP_H) if self.mirrored else self.matrix
        turn = _IDENTITY
        for k in range(4):
            if turn == rotation:
                return k
            turn = _product(_CLOCKWISE, turn)
        raise ValueError(f"not an orientation: {self.matrix}")

    @property
    def spatial(self) -> tuple[int, bool]:
        """(clockwise degrees, horizontal flip) as a presentation state's Spatial Transformation has them: the turn
        first, the flip after (PS3.3 C.10.6), where this matrix is a flip and then turns: R^k F = F R^-k."""
        turns = self.quarter_turns
        return (90 * (-turns % 4), True) if self.mirrored else (90 * turns, False)

    @property
    def swaps_axes(self) -> bool:
        return self.matrix[0] == 0

    def describe(self) -> list[str]:
        """The corner text's note, empty when the image is as stored: 'Flipped H', 'Rotated 90°'."""
        turns, mirrored = self.quarter_turns, self.mirrored
        if mirrored and turns == 2:
            return ["Flipped V"]
        return (["Flipped H"] if mirrored else []) + ([f"Rotated {turns * 90}°"] if turns else [])

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """`pixels` (H, W[, C]) as they are shown on screen."""
        shown = pixels[:, ::-1] if self.mirrored else pixels
        return np.ascontiguousarray(np.rot90(shown, k=-self.quarter_turns))  # np.rot90: positive k is counter

    def shown_size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.swaps_axes else (width, height)

    def map_point(self, x: float, y: float, width: int, height: int) -> tuple[float, float]:
        """A point of the file's pixel grid (continuous, [0, width] x [0, height]) on the oriented image."""
        a, b, c, d = self.matrix
        dx, dy = x - width / 2, y - height / 2
        out_w, out_h = self.shown_size(width, height)
        return a * dx + b * dy + out_w / 2, c * dx + d * dy + out_h / 2

    def edge_labels(self, row: str, column: str) -> dict[str, str]:
        """Labels for the four screen edges from the directions of the file's rows (toward its right edge) and
        columns (toward its bottom edge), as in PatientOrientation (PS3.3 C.7.6.1.1.1)."""
        a, b, c, d = self.matrix
        image_edges = {(1, 0): row, (-1, 0): opposite(row), (0, 1): column, (0, -1): opposite(column)}
        labels = {}
        for edge, (sx, sy) in EDGES.items():
            # The inverse of an orthogonal matrix is its transpose.
            labels[edge] = image_edges[(a * sx + c * sy, b * sx + d * sy)]
        return labels


def opposite(direction: str) -> str:
    return "".join(_OPPOSITE.get(letter, letter) for letter in direction)


def patient_directions(dataset: Any) -> tuple[str, str] | None:
    """(row direction, column direction) of the stored image: PatientOrientation when it holds two valid values,
    else the convention for a chest film's ViewPosition (PA or AP: displayed as if facing the patient, the
    patient's left on the image's right, head at the top); None when neither says."""
    if dataset is None:
        return None
    value = dataset.get("PatientOrientation")
    values = [str(v).strip().upper() for v in value] if value is not None and not isinstance(value, str) else \
        [v.strip().upper() for v in str(value or "").split("\\") if v.strip()]
    if len(values) == 2 and all(v and set(v) <= set(_OPPOSITE) for v in values):
        return values[0], values[1]
    view = str(dataset.get("ViewPosition", "") or "").strip().upper()
    if view in ("PA", "AP"):
        return "L", "F"
    return None


def edge_labels(dataset: Any, orientation: Orientation) -> dict[str, str]:
    """The labels at the four edge midpoints on screen; empty when the file does not say."""
    directions = patient_directions(dataset)
    return orientation.edge_labels(*directions) if directions else {}
