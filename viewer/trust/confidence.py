"""Average drop and increase in confidence (Chattopadhay et al. 2018, Grad-CAM++): the target's score on the
image multiplied by the map, against its score on the whole image.

Per image: drop = max(0, Y - O) / Y and increase = O > Y, with Y the score of the image and O the score of the
image × map; the paper's "Average Drop %" and "% Increase in Confidence" are their means over a set of images.
A faithful map keeps what the model needs, so the drop is small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.cam import QUIET, Reporter, Target

from .curves import at_input_grid
from .scoring import score_raw


@dataclass(frozen=True)
class Confidence:
    score: float  # Y: the target's probability on the image
    masked_score: float  # O: on the image multiplied by the map
    drop: float  # max(0, Y - O) / Y, lower is better
    increase: bool  # O > Y

    def to_dict(self) -> dict:
        return {"score": self.score, "masked_score": self.masked_score, "average_drop": self.drop,
                "increase": self.increase}


def masked_image(engine, display: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """The raw model input multiplied by `saliency` (display-sized, clipped to [0, 1]): (1, h, w, c)."""
    raw = engine.model.prepare_raw(display)
    return raw * np.clip(at_input_grid(engine, saliency), 0.0, 1.0)[None, ..., None]


def confidence_from(y: float, o: float) -> Confidence:
    """Average drop and increase from Y (the image's score) and O (the masked image's)."""
    drop = max(0.0, y - o) / y if y > 0 else 0.0
    return Confidence(float(y), float(o), float(drop), bool(o > y))


def confidence_change(engine, display: np.ndarray, saliency: np.ndarray, target: Target,
                      reporter: Reporter = QUIET) -> Confidence:
    """Y and O for `saliency` (display-sized, in [0, 1]) explaining `target` (CamResult.target) on `display`."""
    raw = engine.model.prepare_raw(display)
    y, o = score_raw(engine, np.concatenate([raw, masked_image(engine, display, saliency)]), target, reporter)
    return confidence_from(y, o)
