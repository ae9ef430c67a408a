"""ROAD, RemOve And Debias (Rong et al., ICML 2022): the target's score after removing a fraction of the pixels a
map ranks highest (MoRF) or lowest (LeRF), the removed pixels filled by noisy linear imputation (imputation.py).

Beside the blur-deletion curves: a blur leaves a signature some real models read as a finding (blurred lungs look
like more pneumonia), so blur deletion cannot tell a good map from a bad one on such a model; the imputation takes
the information away without leaving the mask's shape behind (the paper's point: the removal itself should not
leak which pixels were removed).

Conventions (pytorch-grad-cam's ROADMostRelevantFirst / ROADLeastRelevantFirst / ROADCombined): the scores are
averaged over the percentiles, and combined = mean over percentiles of (LeRF - MoRF) / 2 (their score differences
from the unmodified image; its score cancels). A percentile here is the FRACTION REMOVED (the contract's
`percentiles`); pytorch-grad-cam's MoRF at percentile p keeps the map's lowest p % and removes the rest, its LeRF
at p removes the lowest p %, so over the symmetric default {20, 40, 60, 80} the two remove the same fractions and
agree. Pixels are ranked on the model-input grid as in the
deletion curves (curves.pixel_order, seeded tie-break); all 2 × len(percentiles) images are scored in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.cam import QUIET, Cancelled, Part, Reporter, Target
from viewer.errors import ModelError

from .curves import at_input_grid, pixel_order
from .imputation import NOISE, impute_each
from .scoring import score_raw

DEFAULT_PERCENTILES = (0.2, 0.4, 0.6, 0.8)
IMPUTE_SHARE = 0.6  # of the progress bar: on a small model the imputation costs more than the scoring


class RoadError(ModelError, ValueError):
    """The model's input has too few pixels for ROAD's percentiles: one line to the user (exit 2), not a bug."""


@dataclass(frozen=True)
class Road:
    percentiles: tuple[float, ...]  # fractions of the model-input pixels removed
    morf: tuple[float, ...]  # target score after removing the most relevant first
    lerf: tuple[float, ...]  # ... the least relevant first
    morf_mean: float  # lower is better
    lerf_mean: float  # higher is better
    combined: float  # mean of (lerf - morf) / 2, higher is better; ~0 for a random map
    noise: float  # imputation noise std on the [0, 255] input grid

    def to_dict(self) -> dict:
        return {"percentiles": list(self.percentiles), "morf": list(self.morf), "lerf": list(self.lerf),
                "morf_mean": self.morf_mean, "lerf_mean": self.lerf_mean, "combined": self.combined,
                "noise": self.noise}


def removal_masks(engine, saliency: np.ndarray, fractions: tuple[float, ...], seed: int = 0, *,
                  order: np.ndarray | None = None) -> list[np.ndarray]:
    """Bool (h, w) masks of the removed model-input pixels: MoRF at each fraction, then LeRF at each. `order`:
    pixel_order(at_input_grid(engine, saliency), seed) when the caller has it already."""
    h, w = engine.model.input_size
    if not fractions or any(not 0 < p < 1 for p in fractions):
        raise ValueError(f"ROAD percentiles must be fractions in (0, 1), not {list(fractions)}")
    if any(not 0 < round(p * h * w) < h * w for p in fractions):  # a tiny model input: the model's limit, not a bug
        raise RoadError(f"ROAD percentiles {list(fractions)} cannot each remove at least one pixel of the {h}×{w} "
                        f"model input and keep one")
    rank = np.empty(h * w, np.int64)
    rank[pixel_order(at_input_grid(engine, saliency), seed) if order is None else order] = np.arange(h * w)
    rank = rank.reshape(h, w)
    morf = [rank < round(p * h * w) for p in fractions]  # the top of the ranking
    return morf + [rank >= h * w - round(p * h * w) for p in fractions]  # LeRF: its bottom


def road_images(engine, display: np.ndarray, saliency: np.ndarray, *, percentiles=DEFAULT_PERCENTILES,
                seed: int = 0, order: np.ndarray | None = None,
                reporter: Reporter = QUIET) -> tuple[tuple[float, ...], np.ndarray]:
    """The fractions removed and the 2 × len(percentiles) imputed raw images (MoRF at each, then LeRF) that road()
    scores; progress over the imputation; `order` as removal_masks'. Raises as road() does."""
    fractions = tuple(float(p) for p in percentiles)
    saliency = np.asarray(saliency)
    shape = np.asarray(display).shape[:2]
    if saliency.size == 0:
        raise ValueError("ROAD needs a map with pixels; this one is empty")
    if saliency.shape != shape:
        raise ValueError(f"map {saliency.shape} and image {shape} differ in size")
    raw = engine.model.prepare_raw(display)[0]
    removals = removal_masks(engine, saliency, fractions, seed, order=order)
    rng = np.random.default_rng(seed)
    batch = np.empty((len(removals), *raw.shape), np.float32)
    if reporter.cancelled():
        raise Cancelled("ROAD cancelled")
    for i, image in enumerate(impute_each(raw, removals, rng)):
        batch[i] = image
        reporter.progress((i + 1) / len(removals))
        if reporter.cancelled():
            raise Cancelled("ROAD cancelled")
    return fractions, batch


def road_from(fractions: tuple[float, ...], scores: np.ndarray) -> Road:
    """Road from road_images()'s fractions and its images' scores."""
    morf, lerf = scores[:len(fractions)], scores[len(fractions):]
    return Road(fractions, tuple(float(s) for s in morf), tuple(float(s) for s in lerf), float(morf.mean()),
                float(lerf.mean()), float(np.mean((lerf - morf) / 2)), NOISE)


def road(engine, display: np.ndarray, saliency: np.ndarray, target: Target, *,
         percentiles=DEFAULT_PERCENTILES, seed: int = 0, reporter: Reporter = QUIET) -> Road:
    """MoRF and LeRF scores of `saliency` (display-sized map, higher = more important) explaining `target`
    (CamResult.target) on `display`. `seed` breaks ties in the ranking and draws the imputation noise, in the
    order MoRF at each percentile, then LeRF at each (imputation.impute). Raises viewer.cam.Cancelled when
    `reporter` says cancelled; ValueError for a map that is empty or not the display's size, or percentiles that
    are not fractions in (0, 1) removing at least one pixel and keeping at least one."""
    fractions, batch = road_images(engine, display, saliency, percentiles=percentiles, seed=seed,
                                   reporter=Part(reporter, 0.0, IMPUTE_SHARE))
    return road_from(fractions, score_raw(engine, batch, target, Part(reporter, IMPUTE_SHARE, 1 - IMPUTE_SHARE)))
