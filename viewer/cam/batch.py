"""Many images at once: the same map explain() makes for each, the model run on batches of images.

For Grad-CAM and its gradient-weighted kin (viewer.cam.multi.SHARED_PASS) one compiled pass serves a chunk of
images: one forward pass of the chunk with the target layer hooked, and one backward pass of the sum of each
image's target logit (images do not interact in inference, so each image's gradients are its own). Each
image's map is then made by the method's own compute() and finished by the engine, as explain() does.

The pass has a fixed batch size (its input signature): the last chunk is padded with copies of its last image, so a
run traces it once per (layer, batch size). A pass that runs out of memory is retried at half the size, the size
that fitted kept on the engine (`score_batch_limit`, as score_in_batches does). An optional thread pool resizes and
preprocesses the images, the next chunk's while this one's pass runs. Any other method falls back to one explain()
per image. (A model whose inference mixes the images of a batch would break the equality; Keras layers do not.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.cam.base import QUIET, CamResult, Cancelled, Reporter, Target
from viewer.cam.context import CamContext
from viewer.cam.hooks import hooked_call
from viewer.cam.multi import SHARED_PASS
from viewer.cam.passes import Key, signature
from viewer.cam.registry import get_method, resolve_method
from viewer.errors import CamError

if TYPE_CHECKING:
    from viewer.cam.engine import CamEngine

MAX_AUTO_BATCH = 32  # images per pass when the caller names none: past this, throughput gains little on CPU


def build_batch_gradients(engine: CamEngine, key: Key) -> Any:
    """Pass ("batch_gradients", layer, n): for n images, (activations (n, h, w, k), d target logit / d activation
    per image (n, h, w, k), probabilities (n, n_out), index (n,), sign (n,)); index < 0 / sign 0 pick each
    image's top class as passes.auto_target does for one."""
    import tensorflow as tf

    target, _ = engine.target_layer(key[1])
    n = int(key[2])
    single = engine.model.single_sigmoid

    @tf.function(input_signature=[signature(engine, n), tf.TensorSpec((n,), tf.int32),  # type: ignore[untyped-decorator]
                                  tf.TensorSpec((n,), tf.float32)], autograph=False)
    def batch_gradients(x: Any, index: Any, sign: Any) -> Any:
        engine.trace_counts[key] += 1
        with tf.GradientTape() as tape:
            activation, logits, probs = hooked_call(engine, x, target, tape)
            top = tf.cast(tf.argmax(probs, axis=1), tf.int32)
            index_ = tf.where(index < 0, top, index)
            auto_sign = tf.where(probs[:, 0] >= 0.5, 1.0, -1.0) if single else tf.ones_like(sign)
            sign_ = tf.where(tf.equal(sign, 0.0), auto_sign, sign)
            chosen = tf.gather(logits, index_, axis=1, batch_dims=1)
            score = tf.reduce_sum(sign_ * chosen)  # image i's gradients come from its own term only
        grads = tape.gradient(score, activation)
        if grads is None:
            raise CamError(f"the score does not depend on layer {target.name!r}")
        return activation, grads, probs, index_, sign_

    return batch_gradients


def pass_size(engine: CamEngine, count: int, batch_size: int | None) -> int:
    """Images per compiled pass: `batch_size` when given, else the smallest power of two holding `count` up to
    MAX_AUTO_BATCH and the memory estimate (a few sizes, each traced once, and little padding); never more than a
    size that ran out of memory before (`engine.score_batch_limit`)."""
    if batch_size is not None:
        if int(batch_size) < 1:
            raise CamError(f"batch_size must be at least 1, got {batch_size}")
        return min(int(batch_size), engine.score_batch_limit or int(batch_size))
    cap = max(1, min(MAX_AUTO_BATCH, engine.batch_size_for(), engine.score_batch_limit or MAX_AUTO_BATCH))
    size = 1
    while size < count and size < cap:
        size *= 2
    return min(size, cap)


def explain_batch(engine: CamEngine, bases: Sequence[np.ndarray], *, method: str = "gradcam", target: Any = None,
                  layer: str | None = None, top_n: int = 32, batch_size: int | None = None,
                  reporter: Reporter = QUIET, pool: Executor | None = None,
                  inputs: Sequence[tuple[np.ndarray, np.ndarray]] | None = None) -> list[CamResult]:
    """explain() of each display image in `bases` (uint8 H×W or H×W×3, any sizes), in order: each result the one
    engine.explain(base, method, target, layer, top_n, batch_size) gives. `batch_size`: images per model call
    (the shared pass's chunk; Score-CAM's kin take it as explain() does). `pool` (threads): the images' resize
    and preprocessing run there, the next chunk's while this chunk's pass runs — on the demo model they are most
    of the time, and TensorFlow's eager ops release the GIL. `inputs`: each base's (raw, x) from
    engine.model.model_inputs, made already (a batch's decode threads make them as each image is decoded, so the
    model never waits behind the next chunk's decoding); used by the shared pass's methods only."""
    name = resolve_method(method)
    if name not in SHARED_PASS:
        return _one_by_one(engine, bases, name, target, layer, top_n, batch_size, reporter)
    displays = [np.asarray(base) for base in bases]
    if inputs is not None and len(inputs) != len(displays):
        raise CamError(f"{len(inputs)} prepared inputs for {len(displays)} images")
    if not displays:
        return []
    size = pass_size(engine, len(displays), batch_size)
    layer_name = engine.target_layer(layer)[0].name
    explicit = None if target is None else Target.resolve(engine.model, target)
    import tensorflow as tf

    given = list(inputs) if inputs is not None else None

    def prepare(first: int, end: int) -> list[Any]:
        return given[first:end] if given is not None else _prepare(engine, displays[first:end], pool)

    results: list[CamResult] = []
    pending = prepare(0, size)
    while len(results) < len(displays):
        if reporter.cancelled():
            raise Cancelled("batch explanation cancelled")
        done = len(results)
        chunk = displays[done:done + size]
        start = time.perf_counter()
        ready = [item.result() if isinstance(item, Future) else item for item in pending]
        pending = prepare(done + size, done + 2 * size)
        try:
            results.extend(_chunk(engine, chunk, ready, name, layer_name, explicit, size, start))
        except (tf.errors.ResourceExhaustedError, MemoryError):
            if size == 1:
                raise CamError(f"{name} ran out of memory even one image at a time") from None
            # As score_in_batches: half the images per pass, and the size that fits kept for later calls.
            size = engine.score_batch_limit = size // 2
            pending = ready[:size]  # the next pass's images, prepared already
            continue
        reporter.progress(len(results) / len(displays))
    return results


def _one_by_one(engine: CamEngine, bases: Sequence[np.ndarray], name: str, target: Any, layer: str | None,
                top_n: int, batch_size: int | None, reporter: Reporter) -> list[CamResult]:
    """A method without the shared pass: one explain() per image."""
    results = []
    for i, base in enumerate(bases):
        if reporter.cancelled():
            raise Cancelled("batch explanation cancelled")
        results.append(engine.explain(base, method=name, target=target, layer=layer, top_n=top_n,
                                      batch_size=batch_size))
        reporter.progress((i + 1) / len(bases))
    return results


def _prepare(engine: CamEngine, chunk: list[np.ndarray], pool: Executor | None) -> list[Any]:
    """Each image's (raw, x): now, or futures in `pool`."""
    model = engine.model
    if pool is None:
        return [model.model_inputs(display) for display in chunk]
    return [pool.submit(model.model_inputs, display) for display in chunk]


def _chunk(engine: CamEngine, displays: list[np.ndarray], inputs: list[tuple[np.ndarray, np.ndarray]], name: str,
           layer_name: str, explicit: Target | None, size: int, start: float) -> list[CamResult]:
    """One compiled pass over up to `size` images (padded to `size`), then each image's map."""
    model = engine.model
    x = np.concatenate([pair[1] for pair in inputs] + [inputs[-1][1]] * (size - len(inputs)), axis=0)
    index = np.full(size, -1 if explicit is None else explicit.unit, np.int32)
    sign = np.full(size, 0.0 if explicit is None else explicit.sign, np.float32)
    t_pre = time.perf_counter()
    with engine._lock:
        a, g, probs, chosen, signs = engine.compiled(("batch_gradients", layer_name, size), build_batch_gradients)(
            x, index, sign)
    a, g, probs, chosen, signs = (np.asarray(t) for t in (a, g, probs, chosen, signs))
    module = get_method(name)
    share_pre = (t_pre - start) / len(displays)
    share_pass = (time.perf_counter() - t_pre) / len(displays)
    results = []
    for i, display in enumerate(displays):
        raw, xi = inputs[i]
        model.check_output(probs[i])  # before any map is made from a NaN/inf pass (as explain())
        ctx = CamContext(engine, layer_name, raw, xi, Target.chosen(model, chosen[i], signs[i]))
        ctx.preset_gradients(a[i], g[i], probs[i])
        t_map = time.perf_counter()
        result = engine.finish(ctx, np.asarray(module.compute(ctx), np.float32), display, name, t_map, t_map)
        # This image's share of the chunk's preprocessing (the wait for it, with a pool) and pass, plus its map.
        result.timings_ms = {"preprocess": share_pre * 1e3, "cam": share_pass * 1e3 + result.timings_ms["cam"]}
        results.append(result)
    return results
