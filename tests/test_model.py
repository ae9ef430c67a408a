"""viewer.model: loading real Keras models (and refusing what it cannot load), the sidecar, preparation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES

from viewer.cam import Target
from viewer.errors import ModelError
from viewer.model import ModelSpec, default_model_path, load_model, validate_options

FIXTURE_MODEL = FIXTURES / "models" / "am1codes_pneumonia_150.h5"
PNEUMONIA = FIXTURES / "images" / "nih_00001021_000_pneumonia.png"
needs_fixture_model = pytest.mark.skipif(not FIXTURE_MODEL.is_file() or not PNEUMONIA.is_file(),
                                         reason="../shared/fixtures (real model and NIH images) is absent")

keras = pytest.importorskip("keras")
layers = keras.layers


def _small(inputs_shape=(32, 32, 1), outputs=2, activation="sigmoid", first=None, name="small"):
    inputs = keras.Input(inputs_shape)
    x = first(inputs) if first is not None else inputs
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(outputs, activation=activation, name="head")(x), name=name)


@pytest.fixture
def saved(tmp_path):
    def save(model, name="m.keras", sidecar=None):
        path = tmp_path / name
        model.save(path)
        if sidecar is not None:
            Path(str(path) + ".json").write_text(json.dumps(sidecar), encoding="utf-8")
        return path

    return save


# ---- inference without a sidecar ----

def test_infers_size_channels_kind_labels_and_preprocessing(saved):
    loaded = load_model(saved(_small()))
    assert loaded.input_size == (32, 32) and loaded.channels == 1
    assert loaded.spec.color_mode == "grey" and loaded.spec.preprocess == "unit"
    assert loaded.output_kind == "sigmoid" and loaded.labels == ["class 0", "class 1"]
    assert isinstance(loaded.spec, ModelSpec) and loaded.spec.as_dict()["input_size"] == [32, 32]
    assert loaded.spec.thresholds == {"class 0": 0.5, "class 1": 0.5}


def test_single_sigmoid_unit_has_positive_and_negative_targets(saved):
    loaded = load_model(saved(_small((32, 32, 3), 1)))
    assert loaded.labels == ["positive"] and loaded.target_names == ["positive", "negative"]
    assert loaded.spec.color_mode == "rgb"
    assert Target.resolve(loaded, "negative") == Target(0, "negative", -1)
    assert Target.resolve(loaded, 1) == Target(0, "negative", -1)
    assert Target.resolve(loaded, None, np.array([0.3])) == Target(0, "negative", -1)
    assert Target.resolve(loaded, None, np.array([0.7])) == Target(0, "positive", 1)
    with pytest.raises(ModelError, match="unknown target"):
        Target.resolve(loaded, "pneumonia")


def test_softmax_and_linear_heads_are_recognised(saved):
    assert load_model(saved(_small(outputs=3, activation="softmax"), "a.keras")).output_kind == "softmax"
    logits = load_model(saved(_small(outputs=3, activation=None), "b.keras"))
    assert logits.output_kind == "logits"
    probs = logits.probabilities(np.array([[1.0, 2.0, 3.0]]))
    assert np.isclose(probs.sum(), 1.0) and probs.argmax() == 2


@pytest.mark.parametrize("units, activation", [(1, None), (3, None), (3, "softmax"), (2, "sigmoid")])
def test_probabilities_is_one_rule_for_numpy_and_tensors(saved, units, activation):
    # The CAM passes call the same function on tensors inside tf.function; numpy in gives numpy out.
    import tensorflow as tf

    loaded = load_model(saved(_small(outputs=units, activation=activation)))
    raw = np.array([[-2.0, 0.5, 3.0][:units], [1.0, -1.0, 0.0][:units]], np.float32)
    expected = loaded.probabilities(raw)
    assert isinstance(expected, np.ndarray) and expected.dtype == np.float32
    eager = loaded.probabilities(tf.constant(raw))
    assert tf.is_tensor(eager) and np.allclose(eager.numpy(), expected, atol=1e-6)
    traced = tf.function(lambda x: loaded.probabilities(tf.reshape(x, (tf.shape(x)[0], -1))),
                         input_signature=[tf.TensorSpec((None, None), tf.float32)])
    assert np.allclose(traced(tf.constant(raw)).numpy(), expected, atol=1e-6)
    if activation is None:
        assert ((expected > 0) & (expected < 1)).all()
    else:
        assert np.array_equal(expected, raw)


def test_rescaling_first_layer_means_no_preprocessing_also_when_nested(saved):
    direct = _small((32, 32, 3), first=layers.Rescaling(1 / 255.0))
    assert load_model(saved(direct, "a.keras")).spec.preprocess == "none"
    inner_in = keras.Input((32, 32, 3))
    inner = keras.Model(inner_in, layers.Conv2D(4, 3)(layers.Normalization(mean=0.5, variance=0.1)(inner_in)))
    nested = keras.Sequential([keras.Input((32, 32, 3)), inner, layers.GlobalAveragePooling2D(),
                               layers.Dense(2, activation="softmax")])
    loaded = load_model(saved(nested, "b.keras"))
    assert loaded.spec.preprocess == "none" and loaded.output_kind == "softmax"


def test_nested_output_activation_is_found(saved):
    inner_in = keras.Input((8,))
    head = keras.Model(inner_in, layers.Dense(3, activation="softmax")(inner_in), name="head_model")
    inputs = keras.Input((32, 32, 3))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(8, 3)(inputs))
    assert load_model(saved(keras.Model(inputs, head(x)))).output_kind == "softmax"


# ---- sidecar and overrides ----

def test_sidecar_is_read_and_overrides_win(saved):
    path = saved(_small(), sidecar={"labels": ["nodule", "mass"], "preprocess": "tf", "thresholds": {"mass": 0.3},
                                     "interpolation": "area", "description": "synthetic test model"})
    loaded = load_model(path)
    assert loaded.labels == ["nodule", "mass"] and loaded.spec.preprocess == "tf"
    assert loaded.spec.thresholds == {"nodule": 0.5, "mass": 0.3} and loaded.spec.interpolation == "area"
    assert loaded.spec.description == "synthetic test model" and loaded.spec.sources["labels"] == "sidecar"
    over = load_model(path, overrides={"preprocess": "imagenet", "labels": ["a", "mass"], "thresholds": None})
    assert over.spec.preprocess == "imagenet" and over.labels == ["a", "mass"]
    assert over.spec.sources["preprocess"] == "override"


def test_sources_say_where_every_value_came_from_in_a_stable_order(saved):
    # What the user is shown: the keys given (sidecar order, overrides after), then what the model or defaults set.
    bare = load_model(saved(_small(), "bare.keras"))
    assert list(bare.spec.sources.items()) == [
        ("input_size", "model"), ("color_mode", "model"), ("labels", "default"), ("output_kind", "model"),
        ("preprocess", "model")]
    path = saved(_small(), sidecar={"labels": ["nodule", "mass"], "thresholds": {"mass": 0.3}, "layer": "conv"})
    over = load_model(path, overrides={"labels": ["a", "b"], "interpolation": "area"})
    assert over.spec.thresholds == {"a": 0.5, "b": 0.3}  # the sidecar's thresholds follow their renamed labels
    assert list(over.spec.sources.items()) == [
        ("labels", "override"), ("thresholds", "sidecar"), ("layer", "sidecar"), ("interpolation", "override"),
        ("input_size", "model"), ("color_mode", "model"), ("output_kind", "model"), ("preprocess", "model")]


def test_each_resolver_returns_a_value_and_its_source():
    from viewer.model.resolve import Given, Resolved, resolve_color_mode, resolve_labels, resolve_thresholds

    given = Given({"labels": ["a", "b"], "color_mode": "rgb"}, {"color_mode": "bgr"})
    assert resolve_color_mode(Path("m.keras"), given, 3) == Resolved("bgr", "override")
    assert resolve_color_mode(Path("m.keras"), Given({}, {}), 1) == Resolved("grey", "model")
    assert resolve_labels(Path("m.keras"), given, 2) == Resolved(["a", "b"], "sidecar")
    assert resolve_labels(Path("m.keras"), Given({}, {}), 1) == Resolved(["positive"], "default")
    assert resolve_thresholds(Path("m.keras"), given, ["a", "b"]) == Resolved({"a": 0.5, "b": 0.5}, None)
    with pytest.raises(ModelError, match="color_mode 'bgr' does not fit a 1-channel model input"):
        resolve_color_mode(Path("m.keras"), given, 1)


@pytest.mark.parametrize("sidecar, message", [
    ({"lables": ["a", "b"]}, "unknown key 'lables'"),
    ({"preprocess": "zscore"}, "'preprocess'"),
    ({"color_mode": "cmyk"}, "'color_mode'"),
    ({"input_size": [0, 5]}, "'input_size'"),
    ({"thresholds": {"a": 1.5}}, "'thresholds'"),
    ({"labels": ["a", "b", "c"]}, "3 labels"),
    ({"labels": ["a", "b"], "thresholds": {"z": 0.2}}, "unknown label"),
    ({"input_size": [64, 64]}, "does not match"),
    ({"color_mode": "rgb"}, "color_mode 'rgb'"),
    ({"layer": "nope"}, "no layer named 'nope'"),
    ({"output_kind": "relu"}, "'output_kind'"),
])
def test_bad_sidecar_is_refused_with_a_clear_message(saved, sidecar, message):
    with pytest.raises(ModelError, match=message):
        load_model(saved(_small(), sidecar=sidecar))


def test_sidecar_that_is_not_json(saved, tmp_path):
    path = saved(_small())
    Path(str(path) + ".json").write_text("{labels: [", encoding="utf-8")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(path)


def test_unknown_override_key_is_refused(saved):
    with pytest.raises(ModelError, match="unknown key 'colour'"):
        load_model(saved(_small()), overrides={"colour": "grey"})
    assert validate_options({"output": "3", "input_size": 64}) == {"output": 3, "input_size": (64, 64)}


# ---- what is refused ----

def _lambda_model():
    inputs = keras.Input((16, 16, 1))
    x = layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(2, 3, name="conv")(x))
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))


def test_lambda_model_needs_the_unsafe_switch(saved):
    path = saved(_lambda_model())
    with pytest.raises(ModelError, match="unsafe deserialisation.*--unsafe-model"):
        load_model(path)
    loaded = load_model(path, unsafe=True)
    assert loaded.labels == ["positive"]
    assert loaded.predict(np.zeros((1, 16, 16, 1), np.float32)).shape == (1, 1)


def test_savedmodel_folder_is_refused(tmp_path):
    model = _small()
    folder = tmp_path / "exported"
    model.export(str(folder), verbose=False)
    assert (folder / "saved_model.pb").is_file()
    with pytest.raises(ModelError, match="SavedModel folder.*supported: .*\\.keras.*\\.h5"):
        load_model(folder)


def test_weights_only_h5_is_refused(tmp_path):
    weights = tmp_path / "w.weights.h5"
    _small().save_weights(weights)
    renamed = weights.rename(tmp_path / "w.h5")
    with pytest.raises(ModelError, match="weights only"):
        load_model(renamed)


@pytest.mark.parametrize("name, content", [
    ("random.keras", os.urandom(4096)), ("random.h5", os.urandom(4096)),
    ("notes.txt", b"this is not a model\n"), ("notes.keras", b"this is not a model\n"),
])
def test_files_that_are_no_model_are_refused(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a Keras model file; supported"):
        load_model(path)


def test_missing_file_and_plain_folder(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "absent.keras")
    with pytest.raises(ModelError, match="is a folder"):
        load_model(tmp_path)


def test_legacy_h5_keras3_cannot_rebuild(tmp_path):
    import h5py

    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": [
            {"class_name": "NoSuchLayerFromKeras1", "config": {"name": "x"}}]}})
        f.attrs["keras_version"] = "2.2.4"
    with pytest.raises(ModelError, match="Keras 3 cannot rebuild this legacy .h5 model.*re-save it as .keras"):
        load_model(path)


def test_several_inputs_are_refused_and_several_outputs_need_a_choice(saved):
    a, b = keras.Input((16, 16, 1)), keras.Input((16, 16, 1))
    merged = layers.GlobalAveragePooling2D()(layers.Concatenate()([a, b]))
    with pytest.raises(ModelError, match="2 inputs"):
        load_model(saved(keras.Model([a, b], layers.Dense(1)(merged)), "two_in.keras"))

    inputs = keras.Input((16, 16, 1))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, name="conv")(inputs))
    model = keras.Model(inputs, [layers.Dense(2, activation="softmax", name="finding")(x),
                                 layers.Dense(1, activation="sigmoid", name="quality")(x)])
    path = saved(model, "two_out.keras")
    with pytest.raises(ModelError, match="2 outputs.*'output'"):
        load_model(path)
    by_name = load_model(path, overrides={"output": "quality"})
    assert by_name.n_outputs == 1 and by_name.output_kind == "sigmoid"
    by_index = load_model(path, overrides={"output": 0})
    assert by_index.n_outputs == 2 and by_index.output_kind == "softmax"
    with pytest.raises(ModelError, match="no output named"):
        load_model(path, overrides={"output": "nope"})


def test_non_image_model_is_refused(saved):
    inputs = keras.Input((10,))
    with pytest.raises(ModelError, match="not an image"):
        load_model(saved(keras.Model(inputs, layers.Dense(2)(inputs))))


# ---- preparation and prediction ----

def test_prepare_converts_colour_and_predict_matches_the_model(saved):
    loaded = load_model(saved(_small((24, 24, 3), 2), sidecar={"preprocess": "tf"}))
    grey = (np.arange(48 * 48) % 256).astype(np.uint8).reshape(48, 48)
    x = loaded.prepare(grey)
    assert x.shape == (1, 24, 24, 3) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0 and np.array_equal(x[..., 0], x[..., 2])
    expected = np.asarray(loaded.keras_model(x, training=False))
    assert np.allclose(loaded.predict(x), expected, atol=1e-6)
    rgb = np.dstack([grey, grey // 2, grey // 3])
    assert loaded.prepare(rgb).shape == (1, 24, 24, 3)
    with pytest.raises(ModelError, match="8-bit"):
        loaded.prepare(grey.astype(np.float32))


def test_prepared_input_is_reused_only_for_the_same_pixels(saved):
    loaded = load_model(saved(_small((24, 24, 1)), "memo.keras"), overrides={"preprocess": "raw"})
    display = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    raw, x = loaded.model_inputs(display)
    assert not raw.flags.writeable and not x.flags.writeable  # shared between calls: nobody may change them
    assert x is not raw  # 'raw' preprocessing: still two arrays
    again_raw, again_x = loaded.model_inputs(display.copy())  # same pixels, another array
    assert again_raw is raw and again_x is x
    display[40, 40] ^= 0xFF  # the same array changed in place: a different image
    changed = loaded.prepare(display)
    assert changed is not x and not np.array_equal(changed, x)
    fresh = load_model(saved(_small((24, 24, 1)), "memo2.keras"), overrides={"preprocess": "raw"})
    assert np.array_equal(changed, fresh.prepare(display))
    assert loaded.prepare(display.reshape(32, 128)).shape == (1, 24, 24, 1)  # same bytes, other shape: not reused
    assert not np.array_equal(loaded.prepare(display.reshape(32, 128)), changed)


def test_rgb_display_into_grey_model_and_bgr_order(saved):
    grey_model = load_model(saved(_small((16, 16, 1)), "g.keras"))
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 255
    assert np.allclose(grey_model.prepare(rgb), round(0.299 * 255) / 255, atol=2 / 255)
    bgr = load_model(saved(_small((16, 16, 3)), "c.keras"), overrides={"color_mode": "bgr", "preprocess": "raw"})
    x = bgr.prepare(rgb)
    assert x[0, 0, 0, 2] == 255 and x[0, 0, 0, 0] == 0


def test_default_model_path_is_the_shipped_demo_model():
    path = default_model_path()
    assert path.name == "demo_phantom_cnn.keras"
    if path.is_file():
        loaded = load_model(path)
        assert loaded.labels == ["nodule", "consolidation"] and "SYNTHETIC" in loaded.spec.description


def test_device_name():
    from viewer.model import device_name

    name = device_name()
    assert name == "CPU" or name.startswith("GPU:0")


@needs_fixture_model
def test_fixture_h5_loads_and_interpolation_changes_the_score_as_expected():
    from PIL import Image

    image = np.asarray(Image.open(PNEUMONIA))
    assert image.shape == (1024, 1024)
    scores = {}
    for interpolation in ("antialias", "area", "bilinear", "nearest"):
        loaded = load_model(FIXTURE_MODEL, overrides={"interpolation": interpolation})
        assert loaded.input_size == (150, 150) and loaded.channels == 3 and loaded.output_kind == "sigmoid"
        scores[interpolation] = loaded.predictions(image)[0]["score"]
    expected = {"antialias": 0.82, "area": 0.76, "bilinear": 0.50, "nearest": 0.48}
    for key, value in expected.items():
        assert abs(scores[key] - value) <= 0.03, scores
    assert scores["antialias"] > scores["area"] > scores["bilinear"] > scores["nearest"]
