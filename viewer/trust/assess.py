"""Every trust measure for one map: what `radcam-cli evaluate` prints and the viewer's Trust section shows.

score_map() scores any map (a method's or a baseline's) by faithfulness and, given a region, localisation;
assess() adds the randomisation check for a method's CamResult. Both report progress as one fraction in [0, 1]
through a viewer.cam.Reporter and raise viewer.cam.Cancelled when it says cancelled, like CamEngine.explain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.cam import QUIET, Part, Reporter, Target

from .baselines import baseline_maps
from .confidence import Confidence, confidence_from, masked_image
from .curves import DEFAULT_STEPS, Curves, at_input_grid, curve_images, curves_from, pixel_order, score_with_shared
from .pointing import DEFAULT_TOLERANCE, Localisation, localise
from .randomisation import Randomisation, RandomisedModel, randomisation_check
from .road import Road, road_from, road_images


@dataclass(frozen=True)
class MapScores:
    curves: Curves
    confidence: Confidence
    localisation: Localisation | None  # None without a region
    road: Road | None = None  # ROAD: removal by noisy linear imputation instead of blur

    def to_dict(self) -> dict:
        return {"curves": self.curves.to_dict(), "road": self.road.to_dict() if self.road else None,
                "confidence": self.confidence.to_dict(),
                "pointing": self.localisation.to_dict() if self.localisation else None}


@dataclass(frozen=True)
class Assessment:
    method: str
    scores: MapScores
    randomisation: Randomisation | None  # None when no randomised model was given

    def to_dict(self) -> dict:
        return {"method": self.method, **self.scores.to_dict(),
                "randomisation": self.randomisation.to_dict() if self.randomisation else None}


def score_map(engine, display: np.ndarray, saliency: np.ndarray, target: Target, *, region: np.ndarray | None = None,
              tolerance: float = DEFAULT_TOLERANCE, steps: int = DEFAULT_STEPS,
              reporter: Reporter = QUIET) -> MapScores:
    """Deletion/insertion (blur), ROAD (noisy linear imputation), average drop/increase and (with `region`, bool
    at the display size) pointing/energy of `saliency` (display-sized, in [0, 1]) explaining `target`
    (CamResult.target). 2 × (steps − 1) + 2 × 4 (ROAD) + 1 model inputs in one pass (one call to the model in
    its memory-bounded batches, not one per measure), and the original and the blurred canvas, which every map of
    the same input and target shares (both curves' ends, the average drop's Y), when no map has scored them yet."""
    order = pixel_order(at_input_grid(engine, saliency))  # the same ranking for the curves and ROAD (seed 0)
    fractions, curve_batch = curve_images(engine, display, saliency, steps, order=order)
    percentiles, road_batch = road_images(engine, display, saliency, order=order, reporter=Part(reporter, 0.0, 0.3))
    batch = np.concatenate([curve_batch, road_batch, masked_image(engine, display, saliency)])
    shared, scores = score_with_shared(engine, display, target, batch, Part(reporter, 0.3, 0.7))
    original = shared["original"]
    curves = curves_from(fractions, scores[:len(curve_batch)], original, shared["canvas"])
    removed = road_from(percentiles, scores[len(curve_batch):-1])
    confidence = confidence_from(original, scores[-1])
    localisation = localise(saliency, region, tolerance) if region is not None else None
    return MapScores(curves, confidence, localisation, removed)


def assess(engine, display: np.ndarray, result, *, randomised: RandomisedModel | None = None,
           region: np.ndarray | None = None, tolerance: float = DEFAULT_TOLERANCE, steps: int = DEFAULT_STEPS,
           reporter: Reporter = QUIET) -> Assessment:
    """score_map() of `result.cam` (engine.explain of `display`) plus, given `randomised` (made once per model),
    the randomisation check — one more explain() on the randomised copy."""
    share = 0.5 if randomised is not None else 1.0
    scores = score_map(engine, display, result.cam, result.target, region=region, tolerance=tolerance, steps=steps,
                       reporter=Part(reporter, 0.0, share))
    check = None
    if randomised is not None:
        check = randomisation_check(engine, display, result, randomised, reporter=Part(reporter, share, 1 - share))
    reporter.progress(1.0)
    return Assessment(result.method, scores, check)


def score_baselines(engine, display: np.ndarray, target: Target, *, region: np.ndarray | None = None,
                    tolerance: float = DEFAULT_TOLERANCE, steps: int = DEFAULT_STEPS, seed: int = 0,
                    reporter: Reporter = QUIET) -> dict[str, MapScores]:
    """score_map() of every baseline map (random, edge) for `target` on `display`."""
    maps = baseline_maps(display, seed)
    return {name: score_map(engine, display, saliency, target, region=region, tolerance=tolerance, steps=steps,
                            reporter=Part(reporter, i / len(maps), 1 / len(maps)))
            for i, (name, saliency) in enumerate(maps.items())}
