"""Load Keras models safely, read their sidecar, prepare display images, predict.

TensorFlow is imported lazily (on the first load_model), never when this package is imported.
"""

from viewer.model.loader import LoadedModel, default_model_path, load_model
from viewer.model.spec import (
    COLOR_MODES,
    INTERPOLATIONS,
    OUTPUT_KINDS,
    PREPROCESS_MODES,
    SIDECAR_KEYS,
    ModelSpec,
    read_sidecar,
    sidecar_path,
    validate_options,
)


def setup_tensorflow() -> str:
    """Import TensorFlow once with GPU memory growth on; returns the device name ('GPU:0 <name>' or 'CPU')."""
    from viewer.model.device import setup_tensorflow as _setup

    return _setup()


def device_name() -> str:
    from viewer.model.device import device_name as _name

    return _name()


__all__ = [
    "COLOR_MODES", "INTERPOLATIONS", "LoadedModel", "ModelSpec", "OUTPUT_KINDS", "PREPROCESS_MODES",
    "SIDECAR_KEYS", "default_model_path", "device_name", "load_model", "read_sidecar", "setup_tensorflow",
    "sidecar_path", "validate_options",
]
