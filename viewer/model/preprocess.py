"""Display image (uint8) → model input: colour conversion, resizing, then the preprocessing mode.

`to_channels` is numpy/OpenCV; `resize` and `apply_preprocess` use TensorFlow (imported lazily) and also work
on tensors inside a tf.function, so Score-CAM can build its masked batches on the device.
"""

from __future__ import annotations

import cv2
import numpy as np

from viewer.errors import ModelError

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def to_channels(display: np.ndarray, color_mode: str) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3) RGB → float32 (H, W, C) in [0, 255] in the model's channel order."""
    image = np.asarray(display)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or min(image.shape[:2]) < 1:
        raise ModelError(f"cannot feed an image of shape {image.shape} to a model (expected H×W or H×W×3)")
    if image.dtype != np.uint8:
        raise ModelError(f"model input must come from an 8-bit display image, got {image.dtype}")
    if color_mode == "grey":
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return grey.astype(np.float32)[..., None]
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    if color_mode == "bgr":
        rgb = rgb[..., ::-1]
    return np.ascontiguousarray(rgb, dtype=np.float32)


def resized_channels(display: np.ndarray, color_mode: str, size: tuple[int, int],
                     interpolation: str = "antialias") -> np.ndarray:
    """resize(to_channels(display)[None]) as float32 (1, h, w, C), with the same numbers. A grey film is resized
    once, as uint8, and its channels made after: resizing works channel by channel, and a 10,000² film for an RGB
    model then costs no 1.2 GB float RGB copy."""
    image = np.asarray(display)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2 and image.dtype == np.uint8 and min(image.shape) >= 1:
        grey = np.asarray(resize(image[None, ..., None], size, interpolation), np.float32)
        return grey if color_mode == "grey" else np.repeat(grey, 3, axis=-1)
    return np.asarray(resize(to_channels(display, color_mode)[None], size, interpolation), np.float32)


def resize(batch, size: tuple[int, int], interpolation: str = "antialias"):
    """(n, H, W, C) float or uint8 → (n, h, w, C) float32 tensor with the chosen interpolation (TensorFlow)."""
    import tensorflow as tf

    h, w = int(size[0]), int(size[1])
    # uint8 goes in as is: TensorFlow's resize kernels read it and compute in float32 with the same result, and a
    # 10,000² film then needs no 400 MB float copy of its own.
    uint8 = isinstance(batch, np.ndarray) and batch.dtype == np.uint8
    batch = tf.convert_to_tensor(batch) if uint8 else tf.convert_to_tensor(batch, tf.float32)
    if tuple(batch.shape[1:3]) == (h, w):
        return tf.cast(batch, tf.float32)
    if interpolation == "antialias":  # bilinear with an area-sized kernel when shrinking, like PIL BILINEAR
        out = tf.image.resize(batch, (h, w), method="bilinear", antialias=True)
    elif interpolation == "bilinear":
        out = tf.image.resize(batch, (h, w), method="bilinear", antialias=False)
    elif interpolation == "nearest":
        out = tf.image.resize(batch, (h, w), method="nearest")
    elif interpolation == "area":
        out = tf.image.resize(batch, (h, w), method="area")
    elif interpolation == "bicubic":
        out = tf.clip_by_value(tf.image.resize(batch, (h, w), method="bicubic", antialias=True), 0.0, 255.0)
    else:
        raise ModelError(f"unknown interpolation {interpolation!r}")
    return tf.cast(out, tf.float32)


def apply_preprocess(x, mode: str, color_mode: str = "rgb"):
    """Raw pixel values in [0, 255] (numpy or tensor, channels last) → what the model was trained on.

    none/raw: unchanged (the model rescales itself, or was trained on 0..255); unit: [0, 1]; tf: [-1, 1];
    imagenet: torchvision mean/std on [0, 1]; caffe: as keras.applications 'caffe' (RGB→BGR, minus BGR means).
    """
    channels = int(x.shape[-1])
    if mode in ("none", "raw"):
        return x
    if mode == "unit":
        return x / 255.0
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "imagenet":
        mean, std = _IMAGENET_MEAN, _IMAGENET_STD
        if color_mode == "bgr":
            mean, std = mean[::-1].copy(), std[::-1].copy()
        if channels == 1:
            mean, std = mean.mean(keepdims=True), std.mean(keepdims=True)
        return (x / 255.0 - mean) / std
    if mode == "caffe":
        if channels == 1:
            return x - _CAFFE_MEAN_BGR.mean(keepdims=True)
        if color_mode != "bgr":
            x = x[..., ::-1]
        return x - _CAFFE_MEAN_BGR
    raise ModelError(f"unknown preprocessing mode {mode!r}")
