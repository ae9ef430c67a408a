"""load_model(): a Keras model file + its sidecar → LoadedModel (prepare, predict, probabilities).

The steps live beside it: viewer.model.files (what the file is), viewer.model.resolve (the spec, field by field,
with where each value came from) and viewer.model.loaded (the LoadedModel). TensorFlow and Keras are imported only
when a model is loaded.
"""

from __future__ import annotations

from pathlib import Path

from viewer.errors import ModelError
from viewer.model.device import setup_tensorflow
from viewer.model.files import SUPPORTED, check_file, load_error
from viewer.model.loaded import LoadedModel
from viewer.model.resolve import resolve_spec
from viewer.model.spec import ModelSpec, read_sidecar, sidecar_path, validate_options


def default_model_path() -> Path:
    """The shipped synthetic demo model (resources/models/demo_phantom_cnn.keras)."""
    from viewer.assets import resource_path

    return resource_path("models", "demo_phantom_cnn.keras")


def load_model(path, *, unsafe: bool = False, overrides: dict | None = None) -> LoadedModel:
    """Load a .keras or full-model .h5 file with its sidecar; `overrides` (CLI options) win over the sidecar.

    Keras loads with safe_mode on (no code in the file runs) unless `unsafe`. Raises ModelError (one line) for
    anything RadCAM cannot use.
    """
    path = Path(path)
    options = validate_options({k: v for k, v in (overrides or {}).items() if v is not None}, "model options")
    kind = check_file(path)
    sidecar = read_sidecar(path)
    device = setup_tensorflow()
    import keras

    try:
        model = keras.saving.load_model(str(path), compile=False, safe_mode=not unsafe)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
        raise load_error(path, kind, exc) from None
    if not isinstance(model, keras.Model):
        raise ModelError(f"{path}: holds a {type(model).__name__}, not a model; {SUPPORTED}")
    spec, output, channels = resolve_spec(path, model, sidecar, options)
    return LoadedModel(path, model, spec, output.index, output.units, channels, device)


__all__ = ["LoadedModel", "ModelSpec", "default_model_path", "load_model", "sidecar_path"]
