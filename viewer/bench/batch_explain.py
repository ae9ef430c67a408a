"""The batch explain figure: how close `explain --outputs cam,json` over a folder (viewer.app.batch.run_local:
decode in threads, Grad-CAM on chunks of images, encode and write in threads) comes to the model's own batched
forward throughput on the same prepared inputs.

A ratio near 1 means decoding, the CAM's gradient and writing are hidden behind the model; below it, the pipeline
costs more than the forward pass it cannot avoid. The files are copies of the benchmark DICOM (RLE, 1024x1024).
The bench sits beside viewer.app and cannot import it: the command line hands the pipeline in (`Explainer`).

batch_decode_over_forward is the bound on it: decoding and rendering the same files alone (open_image + render, on
as many threads as the pipeline decodes with), images/s over the same forward images/s. The pipeline cannot beat
it: every image is decoded before the model sees it. Each figure's CPU time per image (the process's user + system
time over its timed runs) says what a machine whose cores are shared pays, whatever the wall clock said.
"""

from __future__ import annotations

import itertools
import os
import resource
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from viewer.errors import RadcamError

from .measure import ratio, time_rounds
from .prescan import copies_with_inputs

BATCH_EXPLAIN_IMAGES = 32  # two chunks: a round of DenseNet121 on 2 CPUs is about 10 s already
BATCH_EXPLAIN_REPEAT = 3  # at most: one sample is a whole run over the folder
BATCH_SIZE = 16  # viewer.app.batch's DEFAULT_BATCH: images per model call

# explainer(loaded_model, batch) -> explain(paths, out folder) -> how many images got their complete set
Explainer = Callable[[Any, int], Callable[[list[Path], Path], int]]


def add_batch_explain_figures(result: dict, loaded: Any, explainer: Explainer, source: Path, folder: Path,
                              repeat: int, say: Callable[[str], None] = lambda message: None,
                              images: int = BATCH_EXPLAIN_IMAGES) -> None:
    """Time the explain pipeline over `images` copies of `source`, their decoding alone and the batched forward
    pass of their model inputs, in the same rounds; adds batch_explain_images_per_s,
    batch_explain_forward_images_per_s, their ratio batch_explain_over_forward, batch_decode_images_per_s and
    batch_decode_over_forward (the bound), and each one's CPU milliseconds per image to `result`."""
    from viewer.io import open_image

    say(f"{loaded.name}: explain --outputs cam,json of {images} DICOM files, against the batched forward pass")
    paths, inputs = copies_with_inputs(loaded, source, folder / "batch_explain", images)
    explain = explainer(loaded, BATCH_SIZE)
    out = folder / "batch_explain_out"

    rounds = itertools.count()

    def pipeline(count: int = images) -> None:
        # Every round writes every set into a folder of its own (no --resume short cut), all removed once timed:
        # removing the last round's 128 MB of arrays inside the round timed the file system, not explain.
        target = out / f"round{next(rounds)}"
        target.mkdir(parents=True)
        done = explain(paths[:count], target)
        if done != count:
            raise RadcamError(f"the batch explain wrote {done} of {count} complete sets")

    import tensorflow as tf

    h, w = loaded.input_size
    # compiled, as the CAM's own passes are: LoadedModel.predict is an eager call, a floor too easy to beat
    compiled = tf.function(loaded.call, input_signature=[tf.TensorSpec((None, h, w, loaded.channels), tf.float32)])

    def forward(count: int = images) -> None:  # the model's own call on the same inputs, batch by batch
        for start in range(0, count, BATCH_SIZE):
            np.asarray(loaded.probabilities(np.asarray(compiled(np.concatenate(inputs[start:start + BATCH_SIZE])))))

    workers = os.cpu_count() or 1  # as many decode threads as the pipeline's default (run_local's workers=None)

    def decode(count: int = images) -> None:  # what every image costs before the model can see it
        with ThreadPoolExecutor(workers, thread_name_prefix="radcam-bench-decode") as pool:
            list(pool.map(lambda path: open_image(path).render(), paths[:count]))

    pipeline(min(images, BATCH_SIZE))  # warm-up, one chunk: the pools, the decoders' imports, the CAM's trace
    forward(min(images, BATCH_SIZE))
    decode(min(images, BATCH_SIZE))
    cpu = {name: _CpuTime(fn) for name, fn in (("pipeline", pipeline), ("forward", forward), ("decode", decode))}
    timings = time_rounds(cpu, min(repeat, BATCH_EXPLAIN_REPEAT))
    shutil.rmtree(out, ignore_errors=True)
    figures = result["figures"]
    figures["batch_explain_images_per_s"] = images / (timings["pipeline"].median_ms / 1e3)
    figures["batch_explain_forward_images_per_s"] = images / (timings["forward"].median_ms / 1e3)
    figures["batch_explain_over_forward"] = ratio(figures["batch_explain_images_per_s"],
                                                  figures["batch_explain_forward_images_per_s"])
    figures["batch_decode_images_per_s"] = images / (timings["decode"].median_ms / 1e3)
    figures["batch_decode_over_forward"] = ratio(figures["batch_decode_images_per_s"],
                                                 figures["batch_explain_forward_images_per_s"])
    for name, figure in (("pipeline", "batch_explain"), ("forward", "batch_explain_forward"),
                         ("decode", "batch_decode")):
        figures[f"{figure}_cpu_per_image_ms"] = cpu[name].least_ms() / images
    result["batch_explain_images"] = images
    result["batch_decode_workers"] = workers
    result["runs"]["batch_explain_images_per_s"] = timings["pipeline"].runs
    result["runs"]["batch_decode_images_per_s"] = timings["decode"].runs
    result["notes"]["batch_explain_over_forward"] = (
        f"Grad-CAM of {images} copies of {source.name}, outputs cam,json, batch {BATCH_SIZE}, decode and write "
        "threads as explain's defaults; the forward pass is the model's call compiled (tf.function), batch by "
        "batch, on the same prepared inputs, decode excluded")
    result["notes"]["batch_decode_over_forward"] = (
        f"open_image + render of the same {images} files on {workers} threads (explain's decode threads), over the "
        "same forward images/s: the pipeline's ceiling, since every image is decoded before the model sees it; "
        "*_cpu_per_image_ms: the process's user + system CPU time per image, the least of the timed runs, the "
        "cost on a machine whose cores are shared")


class _CpuTime:
    """`fn`, recording the process's CPU time (user + system, every thread: TensorFlow's and the pools') of each
    call."""

    def __init__(self, fn: Callable[[], None]):
        self.fn = fn
        self.samples: list[float] = []

    def __call__(self) -> None:
        start = _cpu_s()
        self.fn()
        self.samples.append((_cpu_s() - start) * 1e3)

    def least_ms(self) -> float:
        """The least: a neighbour's load only ever adds to it (system time above all, on a shared file system)."""
        return min(self.samples)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # microseconds, where os.times counts clock ticks (10 ms)
    return usage.ru_utime + usage.ru_stime
