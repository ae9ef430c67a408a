"""Deletion and insertion curves (RISE, Petsiuk et al. 2018): how fast the target's score falls as the pixels a
map ranks highest are removed, and how fast it rises as they are revealed.

Both run on the model-input grid. Removed pixels take the value of a blurred copy of the image, and insertion
starts from that blurred copy: a blur takes away the detail a map points at but keeps the brightness and layout,
so the score change comes from the lost information rather than from the out-of-distribution edges a black fill
would add (Petsiuk et al. blur for insertion; the blur is used for both curves here so that they are comparable).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from viewer.cam import QUIET, Reporter, Target

from .scoring import score_raw, shared_scores

DEFAULT_STEPS = 16
BLUR_SIGMA = 0.05  # of the input side: 6.4 px at 128 px, 11 px at 224 px, wider than a phantom nodule's radius


@dataclass(frozen=True)
class Curves:
    """Target score after removing (deletion) or revealing (insertion) the top `fractions` of the map's pixels."""

    fractions: tuple[float, ...]
    deletion: tuple[float, ...]
    insertion: tuple[float, ...]
    deletion_auc: float  # lower is better: removing what the map ranks first should destroy the score quickly
    insertion_auc: float  # higher is better: revealing it first should restore the score quickly

    def to_dict(self) -> dict:
        return {"deletion_auc": self.deletion_auc, "insertion_auc": self.insertion_auc,
                "fractions": list(self.fractions), "deletion": list(self.deletion), "insertion": list(self.insertion)}


def auc(fractions, scores) -> float:
    """Area under a curve sampled at `fractions` of 0..1 (trapezoid rule)."""
    return float(np.trapezoid(np.asarray(scores, np.float64), np.asarray(fractions, np.float64)))


def pixel_order(saliency: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices, highest map value first. Ties (the flat zero region of a ReLU'd CAM) are broken in a
    seeded random order: raster order would always remove the top rows first."""
    flat = np.asarray(saliency, np.float64).ravel()
    tiebreak = np.random.default_rng(seed).permutation(flat.size)
    # = np.lexsort((tiebreak, -flat)), twice as fast: a stable sort of the pixels already in tie-break order
    by_tiebreak = np.empty_like(tiebreak)
    by_tiebreak[tiebreak] = np.arange(flat.size)
    return by_tiebreak[np.argsort(-flat[by_tiebreak], kind="stable")]


def blurred(raw: np.ndarray) -> np.ndarray:
    """A Gaussian-blurred copy of one raw input image (h, w, c)."""
    h, w, c = raw.shape
    sigma = BLUR_SIGMA * max(h, w)
    return cv2.GaussianBlur(raw, (0, 0), sigma, borderType=cv2.BORDER_REFLECT).reshape(h, w, c)


def at_input_grid(engine, saliency: np.ndarray) -> np.ndarray:
    """A display-sized map resampled to the model input (area averaging when shrinking)."""
    h, w = engine.model.input_size
    saliency = np.asarray(saliency, np.float32)
    shrink = saliency.shape[0] >= h and saliency.shape[1] >= w
    return cv2.resize(saliency, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def curve_images(engine, display: np.ndarray, saliency: np.ndarray, steps: int = DEFAULT_STEPS, *,
                 order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fractions (steps + 1 from 0 to 1) and the images between the curves' ends: deletion at fractions[1:-1],
    then insertion there, 2 × (steps − 1) raw images. At 0 and 1 both curves are the original or the blurred canvas,
    the same for every map of the input (score_with_shared). `order`: pixel_order(at_input_grid(engine, saliency))
    when the caller has it already."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    raw = engine.model.prepare_raw(display)[0]
    h, w, c = raw.shape
    canvas = blurred(raw)
    if order is None:
        order = pixel_order(at_input_grid(engine, saliency))
    fractions = np.linspace(0.0, 1.0, steps + 1)
    inner = fractions[1:-1]
    batch = np.empty((2 * len(inner), h, w, c), np.float32)
    rank = np.empty(h * w, np.int64)
    rank[order] = np.arange(h * w)  # position of each pixel in the removal order
    for i, fraction in enumerate(inner):
        chosen = (rank < round(fraction * h * w)).reshape(h, w, 1)
        batch[i] = np.where(chosen, canvas, raw)  # deletion: chosen pixels blurred away
        batch[len(inner) + i] = np.where(chosen, raw, canvas)  # insertion: chosen pixels revealed
    return fractions, batch


def score_with_shared(engine, display: np.ndarray, target: Target, batch: np.ndarray,
                      reporter: Reporter = QUIET) -> tuple[dict[str, float], np.ndarray]:
    """The scores of `batch` (raw images) and of the images every map of this input and target shares: "original"
    and "canvas" (the fully blurred one). Those are scored in the same pass only when no map of this input and
    target has scored them yet (scoring.shared_scores)."""
    prepared = engine.model.prepare_raw(display)
    shared = shared_scores(engine, prepared, target)
    if "original" in shared and "canvas" in shared:
        return shared, score_raw(engine, batch, target, reporter) if len(batch) else np.empty(0)
    scores = score_raw(engine, np.concatenate([prepared, blurred(prepared[0])[None], batch]), target, reporter)
    shared["original"], shared["canvas"] = float(scores[0]), float(scores[1])
    return shared, scores[2:]


def curves_from(fractions: np.ndarray, scores: np.ndarray, original: float, canvas: float) -> Curves:
    """Curves from curve_images()'s fractions and its images' scores, with the original's and the canvas's."""
    inner = len(fractions) - 2
    deletion = np.concatenate([[original], scores[:inner], [canvas]])
    insertion = np.concatenate([[canvas], scores[inner:], [original]])
    return Curves(tuple(float(f) for f in fractions), tuple(float(s) for s in deletion),
                  tuple(float(s) for s in insertion), auc(fractions, deletion), auc(fractions, insertion))


def deletion_insertion(engine, display: np.ndarray, saliency: np.ndarray, target: Target, steps: int = DEFAULT_STEPS,
                       reporter: Reporter = QUIET) -> Curves:
    """Both curves for `saliency` (a map at the display size, higher = more important) explaining `target`
    (CamResult.target) on `display`: 2 × (steps − 1) images scored in memory-bounded batches, and the curves' ends
    (the original and the blurred canvas) with them unless a map of the same input and target has scored them."""
    fractions, batch = curve_images(engine, display, saliency, steps)
    shared, scores = score_with_shared(engine, display, target, batch, reporter)
    return curves_from(fractions, scores, shared["original"], shared["canvas"])
