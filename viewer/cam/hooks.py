"""Hooks: how the engine reaches a layer during the model's own forward pass.

A layer's `call` is wrapped, for the duration of one model call, by a hook that stores its output and — for
gradient methods — watches it on the GradientTape; a pass may also edit that output (Ablation-CAM zeroes channels).
The real forward pass therefore runs unchanged; no `Model(inputs, [layer.output, output])` graph is built (that
recipe fails on legacy .h5 Sequentials in Keras 3). The final layer is hooked the same way to read the score
before its sigmoid/softmax (the logit), which is what gradient methods differentiate.

Hooks are installed and removed (try/finally). Inside a tf.function they only run while tracing, so the compiled
graph keeps them and later calls do not touch the layers. TensorFlow is imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from viewer.cam.engine import CamEngine

Edit = Callable[[Any], Any]  # target-layer output → the tensor the rest of the model sees
Call = Callable[..., Any]  # a layer's call
Factory = Callable[[Call], Call]  # the layer's call → the call that replaces it


class Hooks:
    """Temporarily replace layers' `call` (instance attribute shadows the class method); restore in reverse."""

    def __init__(self) -> None:
        self._installed: list[tuple[Any, bool, Any]] = []

    def wrap(self, layer: Any, factory: Factory) -> None:
        had = "call" in layer.__dict__
        previous = layer.__dict__.get("call")
        original = layer.call  # bound method (or an earlier instance-level wrapper)
        layer.__dict__["call"] = factory(original)
        self._installed.append((layer, had, previous))

    def remove(self) -> None:
        while self._installed:
            layer, had, previous = self._installed.pop()
            if had:
                layer.__dict__["call"] = previous
            else:
                layer.__dict__.pop("call", None)

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def swap_activation_call(layer: Any, replacement: Call) -> Factory:
    """A factory: run the layer with `layer.activation` replaced by `replacement` for the call only."""

    def factory(original: Call) -> Call:
        def call(*args: Any, **kwargs: Any) -> Any:
            saved = layer.__dict__.get("activation", None)
            had = "activation" in layer.__dict__
            object.__setattr__(layer, "activation", replacement)
            try:
                return original(*args, **kwargs)
            finally:
                if had:
                    object.__setattr__(layer, "activation", saved)
                else:
                    object.__delattr__(layer, "activation")

        return call

    return factory


def _linear(x: Any) -> Any:
    return x


def activation_name(fn: Any) -> str:
    return str(getattr(fn, "__name__", None) or type(fn).__name__).lower()


def hooked_call(engine: CamEngine, x: Any, target: Any = None, tape: Any = None, guided: bool = False,
                edit: Edit | None = None) -> tuple[Any, Any, Any]:
    """model(x) with hooks; returns (target activation or None, logits (n, n_out), probabilities (n, n_out)).

    `tape` watches the target layer's output; `edit` replaces it for the rest of the model (the activation
    returned is the unedited one); `guided` makes every ReLU guided (guided backpropagation)."""
    import tensorflow as tf

    store: dict[str, Any] = {}
    final = engine.final
    model = engine.model
    with Hooks() as hooks:
        if target is not None:
            def target_factory(original: Call) -> Call:
                def call(*args: Any, **kwargs: Any) -> Any:
                    out = original(*args, **kwargs)
                    if tape is not None:
                        tape.watch(out)
                    store["activation"] = out
                    return edit(out) if edit is not None else out

                return call

            hooks.wrap(target, target_factory)
        if guided:
            _install_guided(engine, hooks)
        if final is not None and model.output_kind != "logits":
            _hook_logits(final, hooks, store)
        output = model.call(x)
    output = tf.cast(tf.reshape(output, (tf.shape(output)[0], -1)), tf.float32)
    probs = model.probabilities(output)
    logits = store.get("logits")
    if logits is not None:
        logits = tf.cast(tf.reshape(logits, tf.shape(output)), tf.float32)
    elif model.output_kind == "logits":
        logits = output
    elif model.output_kind == "softmax":
        logits = tf.math.log(tf.clip_by_value(output, 1e-7, 1.0))
    else:  # sigmoid head whose pre-activation could not be hooked: invert the sigmoid
        p = tf.clip_by_value(output, 1e-7, 1.0 - 1e-7)
        logits = tf.math.log(p) - tf.math.log1p(-p)
    return store.get("activation"), logits, probs


def _hook_logits(final: Any, hooks: Hooks, store: dict[str, Any]) -> None:
    """Store the final layer's pre-activation (a Softmax layer's input, or a Dense/Activation before its
    sigmoid/softmax) in store['logits']."""
    import keras

    act = getattr(final, "activation", None)
    name = activation_name(act) if act is not None else ""
    if isinstance(final, keras.layers.Softmax):
        def softmax_factory(original: Call) -> Call:
            def call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
                store["logits"] = inputs
                return original(inputs, *args, **kwargs)

            return call

        hooks.wrap(final, softmax_factory)
    elif act is not None and name in ("sigmoid", "softmax"):
        inner = swap_activation_call(final, _linear)

        def logit_factory(original: Call) -> Call:
            linear_call = inner(original)

            def call(*args: Any, **kwargs: Any) -> Any:
                z = linear_call(*args, **kwargs)
                store["logits"] = z
                return act(z)

            return call

        hooks.wrap(final, logit_factory)


def _install_guided(engine: CamEngine, hooks: Hooks) -> None:
    """Guided backpropagation: every ReLU passes back only positive gradients where its input was positive."""
    import keras
    import tensorflow as tf

    @tf.custom_gradient  # type: ignore[untyped-decorator]  # TensorFlow has no type annotations
    def guided_relu(x: Any) -> Any:
        y = tf.nn.relu(x)

        def grad(dy: Any) -> Any:
            return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(x > 0, dy.dtype)

        return y, grad

    for layer in engine.introspect.walk(engine.model.keras_model):
        if layer is engine.final:
            continue
        if isinstance(layer, keras.layers.ReLU):
            if (layer.max_value is None and not layer.negative_slope and not layer.threshold):
                hooks.wrap(layer, lambda original: (lambda inputs, *a, **k: guided_relu(inputs)))
        elif activation_name(getattr(layer, "activation", None)) == "relu":
            hooks.wrap(layer, swap_activation_call(layer, guided_relu))
