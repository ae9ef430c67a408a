"""Class-activation maps: one engine (engine.py), one small module per method, a registry.

    engine = CamEngine(load_model(path))
    result = engine.explain(display_uint8, method="gradcam", target=None, layer=None)

TensorFlow is imported lazily (when an engine runs), never when this package is imported.
"""

from viewer.cam.base import (
    QUIET,
    CamResult,
    Cancelled,
    LayerInfo,
    MethodInfo,
    Muted,
    Part,
    Quiet,
    Reporter,
    Target,
    normalise,
)
from viewer.cam.batches import score_in_batches
from viewer.cam.context import CamContext
from viewer.cam.engine import CamEngine
from viewer.cam.registry import ALIASES, METHODS, get_method, resolve_method

__all__ = ["ALIASES", "QUIET", "CamContext", "CamEngine", "CamResult", "Cancelled", "LayerInfo", "METHODS",
           "MethodInfo", "Muted", "Part", "Quiet", "Reporter", "Target", "get_method", "normalise", "resolve_method",
           "score_in_batches"]
