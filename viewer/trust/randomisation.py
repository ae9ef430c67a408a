"""Model-randomisation sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

A map that explains the model must change when the model's learned weights are destroyed. The top `layers`
layers that hold weights (counted from the output down, nested models included) of a COPY of the model are
re-initialised in cascade, the map is recomputed with the same method, target and layer, and compared with the
original by Spearman rank correlation and SSIM on the model-input grid (one size for every method).

Verdict: "pass" when |Spearman| < 0.5. Adebayo et al. show curves, not a cut-off, so the threshold is ours and was
fixed before any result was seen: 0.5 is the conventional boundary of a large correlation (Cohen 1988), i.e. the
randomised model's map still ranks pixels much like the trained model's — then the map shows the image more than
what the model learned. Guided backpropagation and Guided Grad-CAM are expected to fail (Adebayo et al.: they
barely change even when every layer is randomised). "n/a" when the original map is empty (nothing to compare).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from viewer.cam import QUIET, Reporter

from .similarity import spearman, ssim

THRESHOLD = 0.5
DEFAULT_LAYERS = 3  # the classifier and the last block: where class evidence lives (see RandomisedModel)


@dataclass(frozen=True)
class Randomisation:
    method: str
    layers: tuple[str, ...]  # re-initialised, top first
    spearman: float | None  # None when the verdict is "n/a"
    ssim: float | None
    threshold: float
    verdict: str  # "pass", "fail" or "n/a"

    @property
    def explanation(self) -> str:
        """One sentence for a user: what was compared and what the verdict means."""
        if self.verdict == "n/a":
            return "The map is empty: there is nothing to compare with the randomised model's map."
        meaning = ("the map depends on what the model learned" if self.verdict == "pass" else
                   "the map barely depends on what the model learned; it may show the image more than the model")
        return (f"After re-initialising {', '.join(self.layers)}, the map's rank correlation with the original is "
                f"{self.spearman:.2f} (SSIM {self.ssim:.2f}); |rho| {'<' if self.verdict == 'pass' else '>='} "
                f"{self.threshold:g}: {meaning}.")

    def to_dict(self) -> dict:
        return {"layers": list(self.layers), "spearman": self.spearman, "ssim": self.ssim,
                "threshold": self.threshold, "verdict": self.verdict, "explanation": self.explanation}


class RandomisedModel:
    """A copy of `model` (LoadedModel) whose top `layers` weighted layers are re-initialised, with its own engine.

    Each weight gets the layer's own initializer for it (what training started from: e.g. Glorot kernels, zero
    biases, BatchNorm back to identity), seeded; a weight without one gets Keras's defaults (Glorot-uniform
    kernels, zero vectors). Three layers reach past the classifier into the last block — Adebayo et al. see
    Grad-CAM change at the logits already and guided backpropagation unchanged all the way down, so a few layers
    separate them; more only make the check slower to set up. Make it once per model and reuse it: the copy's
    compiled functions are kept with it. The loaded model is never modified.
    """

    def __init__(self, model, layers: int = DEFAULT_LAYERS, seed: int = 0):
        import keras

        from viewer.cam import CamEngine
        from viewer.errors import CamError
        from viewer.model import LoadedModel, introspect

        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        with model.lock:
            try:
                copy = keras.models.clone_model(model.keras_model)
            except Exception as exc:  # noqa: BLE001 - whatever Keras cannot rebuild, the check cannot run on
                raise CamError(f"the randomisation check cannot copy this model ({type(exc).__name__}: {exc})") \
                    from None
            copy.set_weights(model.keras_model.get_weights())
        weighted = [layer for layer in introspect.walk(copy) if not introspect.is_container(layer) and layer.weights]
        top = weighted[::-1][:layers]
        for i, layer in enumerate(top):
            _reinitialise(layer, seed + i)
        self.layers = tuple(layer.name for layer in top)
        self.engine = CamEngine(LoadedModel(model.path, copy, model.spec, model.output_index, model.n_outputs,
                                            model.channels, model.device))


def _reinitialise(layer, seed: int) -> None:
    import keras

    for variable in layer.weights:
        name = variable.name.split("/")[-1]
        default = "glorot_uniform" if len(variable.shape) > 1 else "zeros"
        initializer = keras.initializers.get(getattr(layer, f"{name}_initializer", None) or default)
        config = initializer.get_config()
        if "seed" in config:
            initializer = type(initializer).from_config({**config, "seed": seed})
        variable.assign(initializer(tuple(variable.shape), dtype=variable.dtype))


def randomisation_check(engine, display: np.ndarray, result, randomised: RandomisedModel,
                        threshold: float = THRESHOLD, reporter: Reporter = QUIET) -> Randomisation:
    """Compare `result` (engine.explain of `display`) with the same method's map on `randomised`'s model."""
    from viewer.cam import METHODS

    if result.empty:
        return Randomisation(result.method, randomised.layers, None, None, threshold, "n/a")
    layer = result.layer if METHODS[result.method].needs_layer else None
    after = randomised.engine.explain(display, result.method, target=result.target.name, layer=layer,
                                      reporter=reporter)
    h, w = engine.model.input_size
    before_map, after_map = (cv2.resize(r.cam_feature, (w, h), interpolation=cv2.INTER_LINEAR)
                             for r in (result, after))
    rho = spearman(before_map, after_map)
    return Randomisation(result.method, randomised.layers, rho, ssim(before_map, after_map), threshold,
                         "pass" if abs(rho) < threshold else "fail")
