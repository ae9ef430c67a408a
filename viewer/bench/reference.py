"""The recipes people use today, implemented here so RadCAM can be timed against them on the same model and image.

Both take the display image RadCAM explains, feed the model exactly the input RadCAM feeds it (LoadedModel.prepare /
prepare_raw + preprocess) and return a float32 map at the display image's size, as RadCAM's CamResult.cam is.
The benchmark checks that each gives the same map as RadCAM (Pearson correlation > 0.99) before timing it.

- `TutorialGradCam`: the Keras tutorial's Grad-CAM (keras.io/examples/vision/grad_cam): an eager GradientTape
  over `keras.Model(inputs, [conv.output, model.output])`, the spatial mean of the gradients of the top class's
  output as channel weights, ReLU, divide by the maximum, cv2.resize to the image. (The tutorial builds the
  two-output model inside its function on every call; here it is built once, which only makes the reference
  faster.) It differentiates the sigmoid output where RadCAM differentiates the logit: for a sigmoid head the two
  gradients differ by the positive factor p(1 − p), so the maps are the same after normalisation.
- `NaiveScoreCam`: the naive per-channel Score-CAM loop: the target layer's activations from a `keras.Model(inputs,
  conv.output)`, then per channel a masked copy of the input built in numpy (the activation upsampled with
  cv2.resize, min-max normalised to 0..1, multiplied into the image), one `model.predict` over all the copies,
  channel weights, weighted sum, ReLU. It follows RadCAM's Score-CAM definition (viewer/cam/scorecam.py and
  engine.score_weights), which differs from the naive recipe in two places, so that the maps can be compared: the mask
  multiplies the [0, 255] image *before* the model's preprocessing (the recipe masked the preprocessed input; the
  same thing for 'unit' preprocessing, not for 'imagenet'), and a channel's weight is its masked image's target
  probability minus that of a blank image (the recipe took a softmax of the raw scores).

TensorFlow and Keras are imported lazily.
"""

from __future__ import annotations

import cv2
import numpy as np

from viewer.cam import Target
from viewer.errors import CamError


def _layer(keras_model, name: str):
    try:
        return keras_model.get_layer(name)
    except ValueError:
        # A layer inside a nested model is not reachable this way: the recipe's known limit (RadCAM hooks it).
        raise CamError(f"the reference recipes need layer {name!r} at the top level of the model "
                       "(keras.Model(inputs, [layer.output, ...]) cannot reach a nested layer)") from None


class TutorialGradCam:
    """The Keras tutorial's Grad-CAM for one model and layer; call it with a display image."""

    def __init__(self, loaded, layer: str):
        import keras

        self.loaded = loaded
        target = _layer(loaded.keras_model, layer)
        outputs = [target.output, loaded.select_output(loaded.keras_model.outputs)]
        self.grad_model = keras.Model(loaded.keras_model.inputs, outputs)

    def __call__(self, display: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        img_array = self.loaded.prepare(display)
        with tf.GradientTape() as tape:
            last_conv_layer_output, preds = self.grad_model(img_array)
            pred_index = tf.argmax(preds[0])
            class_channel = preds[:, pred_index]
        grads = tape.gradient(class_channel, last_conv_layer_output)
        pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
        heatmap = last_conv_layer_output[0] @ pooled_grads[..., tf.newaxis]
        heatmap = tf.squeeze(heatmap)
        heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
        height, width = display.shape[:2]
        return cv2.resize(np.asarray(heatmap, np.float32), (width, height))


class NaiveScoreCam:
    """Seed 004's Score-CAM loop for one model and layer; call it with a display image."""

    def __init__(self, loaded, layer: str):
        import keras

        self.loaded = loaded
        self.model = loaded.keras_model
        self.activation_model = keras.Model(loaded.keras_model.inputs, _layer(loaded.keras_model, layer).output)

    def _scores(self, batch: np.ndarray) -> np.ndarray:
        out = self.loaded.select_output(self.model.predict(batch, verbose=0))
        return self.loaded.probabilities(np.asarray(out, np.float32).reshape(len(batch), -1))

    def __call__(self, display: np.ndarray, channels: int | None = None) -> np.ndarray:
        """The map from the first `channels` channels (None: all of them)."""
        loaded = self.loaded
        raw = np.asarray(loaded.prepare_raw(display))[0]  # (h, w, c) in [0, 255]
        img_array = np.asarray(loaded.preprocess(raw[None]), np.float32)
        activations = self.activation_model.predict(img_array, verbose=0)[0]  # (h', w', k)
        if channels is not None:
            activations = activations[..., :channels]
        target = Target.resolve(loaded, None, self._scores(img_array)[0])  # RadCAM's top class
        height, width = raw.shape[:2]
        masked = []
        for k in range(activations.shape[-1]):
            mask = cv2.resize(activations[..., k], (width, height))
            low, high = mask.min(), mask.max()
            mask = (mask - low) / (high - low) if high > low else np.zeros_like(mask)
            masked.append(raw * mask[..., None])
        inputs = np.asarray(loaded.preprocess(np.stack(masked)), np.float32)
        scores = target.probability(self._scores(inputs))
        blank = target.probability(self._scores(np.asarray(loaded.preprocess(np.zeros_like(raw)[None]), np.float32)))[0]
        weights = scores - blank
        cam = np.maximum(np.tensordot(activations, weights, axes=([2], [0])), 0.0)
        top, low = float(cam.max()), float(cam.min())
        cam = (cam - low) / (top - low) if top > low else np.zeros_like(cam)
        return cv2.resize(cam.astype(np.float32), (display.shape[1], display.shape[0]))
