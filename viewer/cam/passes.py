"""The compiled passes every method shares, as a table of builders: kind → build(engine, key) → tf.function.

A pass is keyed by a tuple whose first item is its kind (("gradients", layer), ("forward", layer), ("guided",),
("predict",)). CamEngine traces each key once with a fixed input signature and keeps the concrete function.
A method that needs a pass of its own (Score-CAM's masked scoring, Ablation-CAM's ablated copies) writes its
builder in its own file and asks for it with `CamContext.compiled(key, build)`; this table is only the shared ones.

autograph=False everywhere: these bodies have no tensor-dependent Python control flow, and AutoGraph needs the
source code, which a frozen bundle does not ship (it warned on every trace there). TensorFlow is imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from viewer.cam.hooks import hooked_call
from viewer.errors import CamError

if TYPE_CHECKING:
    from viewer.cam.engine import CamEngine

Key = tuple[Any, ...]  # (kind, *arguments), e.g. ("gradients", "block4_relu")
Builder = Callable[["CamEngine", Key], Any]  # returns a tf.function with an input_signature


def signature(engine: CamEngine, batch: int | None = 1) -> Any:
    """The model input's TensorSpec: (batch, h, w, c) float32 (batch None: any)."""
    import tensorflow as tf

    h, w = engine.model.input_size
    return tf.TensorSpec((batch, h, w, engine.model.channels), tf.float32)


def scalars() -> tuple[Any, Any]:
    """TensorSpecs of the (index, sign) pair every targeted pass takes."""
    import tensorflow as tf

    return tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.float32)


def auto_target(engine: CamEngine, probs: Any, index: Any, sign: Any) -> tuple[Any, Any]:
    """index < 0: the top class (single sigmoid unit: the label if p ≥ 0.5 else its complement), viewer.cam.Target's
    rule inside the graph; Target.chosen names the result."""
    import tensorflow as tf

    top = tf.cast(tf.argmax(probs[0]), tf.int32)
    index = tf.where(index < 0, top, index)
    auto_sign = tf.where(probs[0, 0] >= 0.5, 1.0, -1.0) if engine.model.single_sigmoid else tf.constant(1.0)
    sign = tf.where(tf.equal(sign, 0.0), auto_sign, sign)
    return index, sign


def batch_probabilities(engine: CamEngine, x: Any) -> Any:
    """(n, n_out) float32 probabilities of a batch of model inputs inside a pass, without hooks."""
    import tensorflow as tf

    return engine.model.probabilities(tf.cast(tf.reshape(engine.model.call(x), (tf.shape(x)[0], -1)), tf.float32))


def build_gradients(engine: CamEngine, key: Key) -> Any:
    """(activation, d score / d activation, probabilities, index, sign) at layer key[1]."""
    import tensorflow as tf

    target, _ = engine.target_layer(key[1])

    @tf.function(input_signature=[signature(engine), *scalars()], autograph=False)  # type: ignore[untyped-decorator]
    def gradients(x: Any, index: Any, sign: Any) -> Any:
        engine.trace_counts[key] += 1
        with tf.GradientTape() as tape:
            activation, logits, probs = hooked_call(engine, x, target, tape)
            index_, sign_ = auto_target(engine, probs, index, sign)
            score = sign_ * logits[0, index_]
        grads = tape.gradient(score, activation)
        if grads is None:
            raise CamError(f"the score does not depend on layer {target.name!r}")
        return activation, grads, probs, index_, sign_

    return gradients


def build_multi_gradients(engine: CamEngine, key: Key) -> Any:
    """(activation (1, h, w, k), d logit_i / d activation for each requested unit i (n, h, w, k), probabilities)
    at layer key[1]: one forward pass, the n backward passes vectorised by the tape's jacobian (parallel-for)."""
    import tensorflow as tf

    target, _ = engine.target_layer(key[1])

    @tf.function(input_signature=[signature(engine), tf.TensorSpec((None,), tf.int32)], autograph=False)  # type: ignore[untyped-decorator]
    def multi_gradients(x: Any, units: Any) -> Any:
        engine.trace_counts[key] += 1
        with tf.GradientTape() as tape:
            activation, logits, probs = hooked_call(engine, x, target, tape)
            scores = tf.gather(logits[0], units)
        grads = tape.jacobian(scores, activation)  # (n, 1, h, w, k)
        if grads is None:
            raise CamError(f"the score does not depend on layer {target.name!r}")
        return activation, grads[:, 0], probs

    return multi_gradients


def build_forward(engine: CamEngine, key: Key) -> Any:
    """(activation, probabilities) at layer key[1], no gradients."""
    import tensorflow as tf

    target, _ = engine.target_layer(key[1])

    @tf.function(input_signature=[signature(engine)], autograph=False)  # type: ignore[untyped-decorator]
    def forward(x: Any) -> Any:
        engine.trace_counts[key] += 1
        activation, _logits, probs = hooked_call(engine, x, target)
        return activation, probs

    return forward


def build_guided(engine: CamEngine, key: Key) -> Any:
    """Guided-backpropagation gradients of the score w.r.t. the model input, probabilities, index, sign."""
    import tensorflow as tf

    @tf.function(input_signature=[signature(engine), *scalars()], autograph=False)  # type: ignore[untyped-decorator]
    def guided(x: Any, index: Any, sign: Any) -> Any:
        engine.trace_counts[key] += 1
        with tf.GradientTape() as tape:
            tape.watch(x)
            _, logits, probs = hooked_call(engine, x, None, None, guided=True)
            index_, sign_ = auto_target(engine, probs, index, sign)
            score = sign_ * logits[0, index_]
        return tape.gradient(score, x), probs, index_, sign_

    return guided


def build_predict(engine: CamEngine, key: Key) -> Any:
    """(n, n_out) probabilities of a batch of model inputs, any n, without hooks."""
    import tensorflow as tf

    @tf.function(input_signature=[signature(engine, None)], autograph=False)  # type: ignore[untyped-decorator]
    def predict(x: Any) -> Any:
        engine.trace_counts[key] += 1
        return batch_probabilities(engine, x)

    return predict


PASSES: dict[str, Builder] = {
    "gradients": build_gradients,
    "multi_gradients": build_multi_gradients,
    "forward": build_forward,
    "guided": build_guided,
    "predict": build_predict,
}
