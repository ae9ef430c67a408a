"""TensorFlow set-up in one place: GPU memory growth, which device runs the model."""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_done = False
_device = "CPU"


def setup_tensorflow() -> str:
    """Import TensorFlow once, turn memory growth on for every visible GPU; returns the device name in use."""
    global _done, _device
    with _lock:
        if _done:
            return _device
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except (RuntimeError, ValueError):  # already initialised: growth can no longer change
                pass
        if gpus:
            try:
                details = tf.config.experimental.get_device_details(gpus[0])
                _device = f"GPU:0 {details.get('device_name', gpus[0].name)}"
            except Exception:  # noqa: BLE001 - details are cosmetic
                _device = "GPU:0"
        else:
            _device = "CPU"
        _done = True
        return _device


def device_name() -> str:
    """'GPU:0 <name>' when TensorFlow places work on a GPU, else 'CPU' (sets TensorFlow up if needed)."""
    return setup_tensorflow()
