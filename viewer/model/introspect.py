"""Walking a Keras model's structure: nested models, the layer that makes the output, the first real layer.

Imported only after TensorFlow/Keras is loaded (callers pass Keras objects in).
"""

from __future__ import annotations


def is_container(layer) -> bool:
    """A layer that is itself a model (Sequential/Functional) holding other layers."""
    import keras

    return isinstance(layer, keras.Model)


def sublayers(layer) -> list:
    """Direct children of a container, in order (InputLayer excluded)."""
    import keras

    if not is_container(layer):
        return []
    return [child for child in layer.layers if not isinstance(child, keras.layers.InputLayer)]


def walk(model) -> list:
    """Every layer of the model, nested models included (a container is listed before its children)."""
    found = []
    for layer in sublayers(model):
        found.append(layer)
        if is_container(layer):
            found.extend(walk(layer))
    return found


def find_layer(model, name: str):
    """The layer called `name` anywhere in the model (nested too), or None."""
    for layer in walk(model):
        if layer.name == name:
            return layer
    return None


def output_layers(model) -> list:
    """The layer producing each model output (for a Sequential: the last layer)."""
    outputs = getattr(model, "outputs", None)
    try:
        if outputs:
            ops = []
            for tensor in outputs:
                history = getattr(tensor, "_keras_history", None)
                ops.append(history[0] if history is not None else None)
            if all(op is not None for op in ops):
                return ops
    except (AttributeError, ValueError):
        pass
    layers = sublayers(model)
    return [layers[-1]] if layers else []


def final_layer(model, output_index: int = 0):
    """The innermost layer whose output is output `output_index` (looks through nested models)."""
    layers = output_layers(model)
    if not layers:
        return None
    layer = layers[min(output_index, len(layers) - 1)]
    while is_container(layer):
        inner = output_layers(layer)
        if not inner:
            break
        layer = inner[0]
    return layer


def first_layer(model):
    """The first layer applied to the input, looking into a nested first model."""
    layers = sublayers(model)
    while layers:
        layer = layers[0]
        if is_container(layer):
            layers = sublayers(layer)
            continue
        return layer
    return None


def activation_name(layer) -> str | None:
    """'sigmoid'/'softmax'/'linear'/... for a layer that ends in an activation, else None."""
    import keras

    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    fn = getattr(layer, "activation", None)
    if fn is None:
        return None
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return str(name).lower()
