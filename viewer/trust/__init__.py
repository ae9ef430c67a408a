"""Can this map be trusted? Faithfulness, sanity and localisation measures for class-activation maps (no Qt).

    engine = CamEngine(model)
    result = engine.explain(display, "gradcam")
    randomised = RandomisedModel(model)             # once per model: a re-initialised copy (seconds)
    report = assess(engine, display, result, randomised=randomised, region=box_mask(display.shape, box))
    report.to_dict()                                # deletion/insertion AUC, average drop, randomisation, pointing
    score_baselines(engine, display, result.target, region=...)   # the same measures for a random and an edge map

One module per measure: curves (deletion/insertion), confidence (average drop/increase), randomisation (model
randomisation), pointing (pointing game, energy), road (ROAD: removal by noisy linear imputation, imputation
solves it), baselines, similarity (Spearman, SSIM); assess combines them;
phantoms is the demo report. classes compares every label's map of one image (per-class pointing, class
sensitivity), class_report sums it over two-lesion phantoms. TensorFlow is imported only when a measure runs.
"""

from .assess import Assessment, MapScores, assess, score_baselines, score_map
from .baselines import BASELINES, baseline_maps, edge_map, random_map
from .confidence import Confidence, confidence_change
from .curves import DEFAULT_STEPS, Curves, auc, deletion_insertion
from .pointing import DEFAULT_TOLERANCE, Localisation, box_mask, localise
from .randomisation import THRESHOLD, Randomisation, RandomisedModel, randomisation_check
from .road import DEFAULT_PERCENTILES, Road, road
from .similarity import spearman, ssim

__all__ = ["Assessment", "BASELINES", "Confidence", "Curves", "DEFAULT_PERCENTILES", "DEFAULT_STEPS",
           "DEFAULT_TOLERANCE", "Localisation", "MapScores", "Randomisation", "RandomisedModel", "Road", "THRESHOLD",
           "assess", "auc", "baseline_maps",
           "box_mask", "confidence_change", "deletion_insertion", "edge_map", "localise", "random_map",
           "randomisation_check", "road", "score_baselines", "score_map", "spearman", "ssim"]
