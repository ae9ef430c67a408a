"""The pre-scan figure: how close a worklist's pre-scan (decode, default rendering, model input, batched model
calls: viewer.app.prescan) comes to the model's own batched forward throughput on the same prepared inputs.

A ratio near 1 means decoding is hidden behind the model (the decoders keep it fed); a small model on few cores
is decode-bound and stays well below. The files are copies of the benchmark DICOM (RLE, 1024x1024), no cache.
The bench sits beside viewer.app and cannot import it: the command line hands the pre-scan in (`Scan`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from viewer.errors import RadcamError

from .measure import ratio, time_rounds

PRESCAN_IMAGES = 32  # two batches: a sample of DenseNet121 on 2 CPUs is 10 s already
PRESCAN_REPEAT = 3  # at most: one sample is a whole pre-scan
BATCH_SIZE = 16  # viewer.app.prescan's default

Scan = Callable[..., int]  # scan(loaded_model, paths, batch_size) -> how many images were scored


def copies_with_inputs(loaded, source: Path, work: Path, images: int) -> tuple[list[Path], list[np.ndarray]]:
    """`images` copies of `source` in `work` and each one's model input (decoded, rendered, prepared afresh): the
    folder a batch figure runs over and what its forward-pass floor is fed."""
    from viewer.io import open_image

    work.mkdir(exist_ok=True)
    paths = [work / f"image{number:03d}{source.suffix}" for number in range(images)]
    for path in paths:
        shutil.copyfile(source, path)
    return paths, [loaded.prepare_fresh(open_image(path).render()) for path in paths]


def add_prescan_figures(result: dict, loaded, scan: Scan, source: Path, folder: Path, repeat: int,
                        say: Callable[[str], None] = lambda message: None, images: int = PRESCAN_IMAGES) -> None:
    """Time `scan` over `images` copies of `source` and the batched forward pass of their model inputs, in the
    same rounds; adds prescan_images_per_s, batched_forward_images_per_s and their ratio to `result`."""

    say(f"{loaded.name}: pre-scan of {images} DICOM files, against the batched forward pass")
    paths, inputs = copies_with_inputs(loaded, source, folder / "prescan", images)

    def prescan(count: int = images) -> None:
        scored = scan(loaded, paths[:count], BATCH_SIZE)
        if scored != count:
            raise RadcamError(f"the pre-scan scored {scored} of {count} images")

    def forward(count: int = images) -> None:  # the pre-scan's own model call: probabilities of one batch
        for start in range(0, count, BATCH_SIZE):
            np.asarray(loaded.probabilities(loaded.predict(np.concatenate(inputs[start:start + BATCH_SIZE]))))

    prescan(min(images, BATCH_SIZE))  # warm-up, one batch: the decoders' imports, the model's first call
    forward(min(images, BATCH_SIZE))
    timings = time_rounds({"prescan": prescan, "forward": forward}, min(repeat, PRESCAN_REPEAT))
    figures = result["figures"]
    figures["prescan_images_per_s"] = images / (timings["prescan"].median_ms / 1e3)
    figures["batched_forward_images_per_s"] = images / (timings["forward"].median_ms / 1e3)
    figures["prescan_over_batched_forward"] = ratio(figures["prescan_images_per_s"],
                                                    figures["batched_forward_images_per_s"])
    result["prescan_images"] = images
    result["runs"]["prescan_images_per_s"] = timings["prescan"].runs
    result["notes"]["prescan_over_batched_forward"] = (
        f"{images} copies of {source.name}, batch {BATCH_SIZE}, no cache; the forward pass is the same model call on "
        "the same prepared inputs")
