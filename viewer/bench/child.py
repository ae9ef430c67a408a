"""One Score-CAM in a fresh process, for its peak memory: `python -m viewer.bench.child MODEL DISPLAY.npy
radcam|reference OUT.npy` prints one JSON line (see measure.peak_extra_mb) and saves the map to OUT.npy.

The model is loaded and the engine set up first; the measured phase is the first Score-CAM over every channel of
the default layer, as a user meets it (RadCAM's includes tracing its compiled functions; the reference's includes
building its activation model and Keras's predict function).
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np


def main(argv: list[str]) -> int:
    model_path, display_path, recipe, out_path = argv
    from viewer.cam import CamEngine
    from viewer.model import load_model

    from .measure import peak_extra_mb
    from .reference import NaiveScoreCam

    warnings.simplefilter("ignore")
    loaded = load_model(model_path)
    engine = CamEngine(loaded)
    layer = engine.default_layer()
    display = np.load(display_path)
    result: dict = {}

    def run() -> None:
        if recipe == "radcam":
            result["map"] = engine.explain(display, method="scorecam").cam
        else:
            result["map"] = NaiveScoreCam(loaded, layer)(display)

    report = peak_extra_mb(run)
    np.save(out_path, result["map"])
    print(json.dumps({"recipe": recipe, "layer": layer, **report}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
