"""TensorFlow set-up in one place: GPU memory growth, which device runs the model."""

from __future__ import annotations

import os
import sys
import threading

from viewer.stderr_capture import capture_fd2

_lock = threading.Lock()
_done = False
_device = "CPU"


def setup_tensorflow() -> str:
    """Import TensorFlow once, turn memory growth on for every visible GPU; returns the device name in use."""
    global _done, _device
    with _lock:
        if _done:
            return _device
        if "TF_CPP_MIN_LOG_LEVEL" in os.environ:  # the user asked for TensorFlow's own logging
            gpus = _import_and_list_gpus()
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
            gpus = _without_native_logs(_import_and_list_gpus)
        import tensorflow as tf

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


def _import_and_list_gpus() -> list:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def _without_native_logs(fn):
    """Run `fn` with file descriptor 2 sent to a temporary file, replayed only if `fn` fails.

    TensorFlow 2.21's native code writes absl INFO/ERROR lines ("oneDNN custom operations are on", "failed call
    to cuInit") straight to fd 2 at import, whatever TF_CPP_MIN_LOG_LEVEL says; the CLI's stderr is reserved for
    progress and one-line errors.
    """
    captured = None
    try:
        with capture_fd2() as captured:
            return fn()
    except BaseException:
        if captured is not None:
            sys.stderr.write(captured.text)
        raise


def device_name() -> str:
    """'GPU:0 <name>' when TensorFlow places work on a GPU, else 'CPU' (sets TensorFlow up if needed)."""
    return setup_tensorflow()
