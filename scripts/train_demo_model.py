#!/usr/bin/env python
"""Train the synthetic demo model shipped in resources/models (SYNTHETIC, NOT FOR DIAGNOSIS).

A small CNN (128×128 grey → Conv-BN-ReLU blocks → 16×16 → global average pooling → Dense(2, sigmoid)) learns to
say whether a procedural chest phantom (viewer.demo.phantom) shows a nodule and/or a consolidation.

Training images go through the same path as inference: phantoms are drawn at 256 px, quantised to 8 bits
(what a display image is), then resized to 128 px with antialiased bilinear (viewer.model.preprocess.resize)
and scaled to [0, 1] ('unit' preprocessing).

    python scripts/train_demo_model.py            # writes resources/models/demo_phantom_cnn.keras (+ .json, README.md)

Deterministic on CPU (fixed seeds, op determinism); a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU: the result must not depend on the machine

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "models"
LABELS = ["nodule", "consolidation"]
DRAW_SIZE, INPUT_SIZE = 256, 128
TRAIN_SEED, VAL_SEED = 20240601, 20240602  # make_batch seeds (child seeds derived from these)
SEED = 7


def make_data(seed: int, n: int):
    """Phantoms → uint8 display images → model input (n, 128, 128, 1) in [0, 1], labels (n, 2)."""
    from viewer.demo.phantom import make_batch
    from viewer.model.preprocess import resize

    images, labels, _ = make_batch(seed, n, size=DRAW_SIZE)
    display = np.round(images * 255.0).astype(np.uint8)
    x = np.concatenate([np.asarray(resize(display[i:i + 256, ..., None].astype(np.float32),
                                          (INPUT_SIZE, INPUT_SIZE), "antialias"))
                        for i in range(0, n, 256)]) / 255.0
    return x.astype(np.float32), labels.astype(np.float32)


def build_model():
    import keras
    from keras import layers

    def block(x, filters, name):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    # One conv per scale keeps the receptive field of the 16×16 map small (38 px of 128): with two convs per
    # scale (62 px) every position of the diseased lung saw the lesion and the CAM covered the whole lung.
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="image")
    x = block(inputs, 16, "block1")
    x = layers.MaxPooling2D(name="pool1")(x)  # 64
    x = block(x, 32, "block2")
    x = layers.MaxPooling2D(name="pool2")(x)  # 32
    x = block(x, 64, "block3")
    x = layers.MaxPooling2D(name="pool3")(x)  # 16
    x = block(x, 64, "block4")  # target layer for CAMs: block4_relu (16×16×64)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(len(LABELS), activation="sigmoid", name="predictions")(x)
    return keras.Model(inputs, outputs, name="demo_phantom_cnn")


def recalibrate_batchnorm(model, x: np.ndarray, batches: int = 80, batch_size: int = 64) -> None:
    """Re-estimate BatchNorm moving statistics for the final weights (forward passes in training mode, no
    gradient step). Phantom features have a large mean and a tiny variance, so moving averages that lag behind
    changing weights made inference-mode outputs useless (train accuracy 0.97, inference 0.51) until this."""
    rng = np.random.default_rng(0)
    for _ in range(batches):
        model(x[rng.choice(len(x), batch_size, replace=False)], training=True)


def auc(y: np.ndarray, p: np.ndarray) -> float:
    pos, neg = p[y == 1], p[y == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4000, help="training phantoms")
    parser.add_argument("--val", type=int, default=600, help="validation phantoms")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    start = time.time()
    x_train, y_train = make_data(TRAIN_SEED, args.train)
    x_val, y_val = make_data(VAL_SEED, args.val)
    print(f"data: {len(x_train)} train, {len(x_val)} val in {time.time() - start:.0f} s", flush=True)

    model = build_model()
    steps = args.epochs * int(np.ceil(len(x_train) / 32))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="acc")])
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs,
              shuffle=True, verbose=2)

    recalibrate_batchnorm(model, x_train)
    p = model.predict(x_val, batch_size=64, verbose=0)
    metrics = {}
    for i, label in enumerate(LABELS):
        metrics[label] = {"accuracy": float(((p[:, i] >= 0.5) == (y_val[:, i] == 1)).mean()),
                          "auc": auc(y_val[:, i], p[:, i])}
    print(json.dumps(metrics, indent=1), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "demo_phantom_cnn.keras"
    model.compile()  # no optimizer state in the shipped file
    model.save(path)
    sidecar = {
        "description": "SYNTHETIC demo model trained on procedural phantoms, NOT FOR DIAGNOSIS.",
        "labels": LABELS,
        "preprocess": "unit",
        "color_mode": "grey",
        "input_size": [INPUT_SIZE, INPUT_SIZE],
        "output_kind": "sigmoid",
        "interpolation": "antialias",
        "thresholds": {label: 0.5 for label in LABELS},
        "layer": "block4_relu",
    }
    (args.out / "demo_phantom_cnn.keras.json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    write_readme(args, metrics, time.time() - start)
    print(f"saved {path} in {time.time() - start:.0f} s")
    return 0


def write_readme(args, metrics: dict, seconds: float) -> None:
    rows = "\n".join(f"| {label} | {m['accuracy']:.3f} | {m['auc']:.3f} |" for label, m in metrics.items())
    text = f"""# Demo model: `demo_phantom_cnn.keras` — SYNTHETIC, NOT FOR DIAGNOSIS

A small convolutional network that says whether a **procedural chest phantom** (`viewer.demo.phantom`, drawn
by RadCAM itself) shows a *nodule* and/or a *consolidation*. It has never seen a real radiograph; its scores on
real images mean nothing. It exists so RadCAM can show class-activation maps out of the box and so the tests can
check that the maps point at the lesion.

| file | what |
|---|---|
| `demo_phantom_cnn.keras` | Keras 3 model, 128×128×1 grey input in [0, 1], two sigmoid outputs |
| `demo_phantom_cnn.keras.json` | sidecar: labels `nodule`, `consolidation`; preprocess `unit`; colour `grey`; thresholds 0.5; default CAM layer `block4_relu` |

Architecture: 4 × (Conv 3×3 – BatchNorm – ReLU) with 3 max-pools (128 → 16 px; receptive field 38 px), global average pooling,
Dense(2, sigmoid). Last spatial layer `block4_relu` is 16×16×64, so the original CAM (GAP → Dense) applies.

Training (`scripts/train_demo_model.py`): {args.train} phantoms (seed {TRAIN_SEED}), validation {args.val}
phantoms (seed {VAL_SEED}); each kind of lesion present with probability 0.5. Images are drawn at 256 px,
quantised to 8 bits, resized to 128 px with antialiased bilinear — the same path a display image takes at
inference. Adam with cosine decay from 2e-3, batch 32, {args.epochs} epochs, binary cross-entropy; deterministic
on CPU (fixed seeds, op determinism). After training, the BatchNorm moving statistics are re-estimated
with the final weights (80 forward batches in training mode): the running averages lagged behind the changing
weights so much that inference-mode outputs were useless before. Took {seconds / 60:.1f} min on 2 CPU cores.

Validation (threshold 0.5):

| label | accuracy | ROC AUC |
|---|---|---|
{rows}

Retrain (overwrites the files here):

    python scripts/train_demo_model.py
"""
    (args.out / "README.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
