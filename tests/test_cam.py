"""viewer.cam: every method on real models of every structure, checked against a reference computation."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import FIXTURES

from viewer.errors import CamError, RadcamError

FIXTURE_MODEL = FIXTURES / "models" / "am1codes_pneumonia_150.h5"
PNEUMONIA = FIXTURES / "images" / "nih_00001021_000_pneumonia.png"
HAVE_FIXTURES = FIXTURE_MODEL.is_file() and PNEUMONIA.is_file()

keras = pytest.importorskip("keras")
layers = keras.layers

from viewer.cam import METHODS, CamEngine, Cancelled, Target, normalise, resolve_method  # noqa: E402
from viewer.model import default_model_path, load_model  # noqa: E402

MODEL_KINDS = ["demo", "fixture_h5", "densenet_nested", "softmax"]


def _softmax_functional(seed=0, separate_activation=False, logits=False):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((48, 48, 3), name="image")
    x = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    x = layers.Conv2D(8, 3, activation="relu", name="c1")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Conv2D(16, 3, activation="relu", name="c2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if separate_activation:
        x = layers.Dense(3, name="logits")(x)
        outputs = layers.Activation("softmax", name="probs")(x)
    else:
        outputs = layers.Dense(3, activation=None if logits else "softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name="softmax_functional")


def _display(shape, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=shape, dtype=np.uint8)
    return base


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cam_models")
    built = {}
    demo = default_model_path()
    if demo.is_file():
        built["demo"] = load_model(demo)
    if HAVE_FIXTURES:
        built["fixture_h5"] = load_model(FIXTURE_MODEL)
    keras.utils.set_random_seed(1)
    nested = keras.Sequential([
        keras.Input((224, 224, 3)),
        keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(224, 224, 3)),
        layers.GlobalAveragePooling2D(),
        layers.Dense(14, activation="sigmoid"),
    ])
    nested.save(folder / "densenet_nested.keras")
    built["densenet_nested"] = load_model(folder / "densenet_nested.keras")
    _softmax_functional().save(folder / "softmax.keras")
    built["softmax"] = load_model(folder / "softmax.keras")
    return built


@pytest.fixture(scope="module")
def engines(models):
    return {kind: CamEngine(model) for kind, model in models.items()}


@pytest.fixture(scope="module")
def images():
    out = {"softmax": _display((60, 90, 3)), "densenet_nested": _display((300, 260))}
    from viewer.demo.phantom import make_phantom

    out["demo"] = np.round(make_phantom(123456, 256, ["nodule"]).image * 255).astype(np.uint8)
    if HAVE_FIXTURES:
        from PIL import Image

        out["fixture_h5"] = np.asarray(Image.open(PNEUMONIA))
    return out


def _engine(engines, kind):
    if kind not in engines:
        pytest.skip(f"{kind} model is absent (fixtures or the shipped demo model)")
    return engines[kind]


# ---- every method on every model structure ----

@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_method_runs_on_every_model_structure(engines, images, kind, method):
    engine = _engine(engines, kind)
    display = images[kind]
    options = {}
    if kind == "densenet_nested" and method in ("scorecam", "ablationcam"):
        options["layer"] = "conv5_block16_2_conv"  # 32 channels: one pass per channel in a few seconds on 2 cores
    if method == "cam" and kind == "fixture_h5":
        with pytest.raises(CamError, match="not applicable: .*Flatten"):
            engine.explain(display, method, **options)
        return
    result = engine.explain(display, method, **options)
    assert result.method == method and result.device == engine.device
    assert result.cam.shape == display.shape[:2] and result.cam.dtype == np.float32
    assert np.isfinite(result.cam).all() and 0.0 <= result.cam.min() and result.cam.max() <= 1.0
    assert np.isfinite(result.cam_feature).all()
    if METHODS[method].resolution == "pixel":
        assert result.cam_feature.shape == engine.model.input_size
    else:
        layer = {info.name: info for info in engine.layers()}[result.layer]
        assert result.cam_feature.shape == layer.shape[:2]
    assert not result.empty and result.cam.max() > 0.5
    assert len(result.predictions) == engine.model.n_outputs
    assert result.target.name in engine.model.target_names
    assert set(result.timings_ms) == {"preprocess", "cam"}


def test_default_layers(engines):
    expected = {"demo": "block4_relu", "fixture_h5": "conv2d_4", "densenet_nested": "relu", "softmax": "c2"}
    for kind, name in expected.items():
        if kind in engines:
            found = [info for info in engines[kind].layers() if info.is_default]
            assert [info.name for info in found] == [name], kind
    densenet = {info.name: info for info in engines["densenet_nested"].layers()}
    assert densenet["relu"].shape == (7, 7, 1024) and "densenet121" in densenet  # nested model listed too
    assert densenet["conv1_relu"].shape == (112, 112, 64)


def test_predictions_equal_the_model_output(engines, images):
    for kind, engine in engines.items():
        x = engine.model.prepare(images[kind])
        expected = np.asarray(engine.model.keras_model(x, training=False)).reshape(-1)
        got = [p["score"] for p in engine.predict(images[kind])]
        assert np.allclose(got, expected, atol=1e-5), kind
        explained = engine.explain(images[kind], "gradcam").predictions
        assert np.allclose([p["score"] for p in explained], expected, atol=1e-5), kind


# ---- Grad-CAM equals the textbook computation where the textbook recipe works ----

def _reference_gradcam(model, x, conv_name, logits_name, index):
    import tensorflow as tf

    grad_model = keras.Model(model.inputs, [model.get_layer(conv_name).output, model.get_layer(logits_name).output])
    with tf.GradientTape() as tape:
        conv, logits = grad_model(x, training=False)
        score = logits[:, index]
    grads = tape.gradient(score, conv)
    weights = tf.reduce_mean(grads, axis=(0, 1, 2))
    return np.maximum(np.asarray(tf.reduce_sum(conv[0] * weights, axis=-1)), 0.0)


@pytest.mark.parametrize("variant", ["separate_activation", "logits_head"])
def test_gradcam_equals_reference_recipe(tmp_path, variant):
    model = _softmax_functional(seed=3, separate_activation=variant == "separate_activation",
                                logits=variant == "logits_head")
    path = tmp_path / "ref.keras"
    model.save(path)
    loaded = load_model(path)
    assert loaded.output_kind == ("softmax" if variant == "separate_activation" else "logits")
    engine = CamEngine(loaded)
    display = _display((48, 48, 3), seed=5)
    x = loaded.prepare(display)
    for index in range(3):
        reference = _reference_gradcam(loaded.keras_model, x, "c2", "logits", index)
        result = engine.explain(display, "gradcam", target=index)
        assert result.target.index == index and result.layer == "c2"
        if reference.max() <= 0:
            assert result.empty
            continue
        ours = result.cam_feature.ravel()
        assert np.corrcoef(ours, normalise(reference)[0].ravel())[0, 1] > 0.99


@pytest.mark.parametrize("variant", ["separate_activation", "logits_head"])
def test_ablationcam_equals_reference_recipe(tmp_path, variant):
    """Desai & Ramaswamy's weights (y - y_k) / y, y the target logit, y_k the logit with channel k of the target
    layer zeroed, computed here by running the layers after the target layer by hand."""
    model = _softmax_functional(seed=4, separate_activation=variant == "separate_activation",
                                logits=variant == "logits_head")
    model.save(tmp_path / "ref.keras")
    loaded = load_model(tmp_path / "ref.keras")
    engine = CamEngine(loaded)
    display = _display((48, 48, 3), seed=6)
    x = loaded.prepare(display)
    conv = keras.Model(model.inputs, model.get_layer("c1").output)
    after = [model.get_layer(name) for name in ("pool", "c2", "gap", "logits")]
    activations = np.asarray(conv(x, training=False))

    def logits(a):
        for layer in after:
            a = layer(a)
        return np.asarray(a)[0]

    for index in range(3):
        y = logits(activations)[index]
        ablated = np.array([logits(activations * (np.arange(8) != k))[index] for k in range(8)])
        weights = (y - ablated) / abs(y)
        reference, empty = normalise(np.tensordot(activations[0], weights, axes=([2], [0])))
        result = engine.explain(display, "ablationcam", target=index, layer="c1")
        assert result.target.index == index and result.extra["channels"] == 8
        assert np.isclose(result.extra["score"], y, rtol=1e-4, atol=1e-5)
        assert result.empty == empty
        assert np.allclose(result.cam_feature, reference, atol=1e-4)


def test_ablationcam_batches_progress_cancel_and_one_trace(engines, images):
    engine = _engine(engines, "demo")
    display = images["demo"]
    seen = []
    whole = engine.explain(display, "ablationcam", target="nodule",
                           reporter=SimpleNamespace(progress=seen.append, cancelled=lambda: False))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2
    assert whole.extra["channels"] == 64
    small = engine.explain(display, "ablationcam", target="nodule", batch_size=5)
    assert small.extra["batch_size"] == 5 and np.allclose(small.cam_feature, whole.cam_feature, atol=1e-4)
    calls = []
    with pytest.raises(Cancelled, match="Ablation-CAM cancelled"):
        engine.explain(display, "ablationcam", batch_size=8, reporter=SimpleNamespace(
            progress=lambda fraction: None, cancelled=lambda: calls.append(1) or len(calls) > 2))
    assert len(calls) == 3
    engine.explain(display[::-1].copy(), "ablationcam")
    assert engine.trace_counts[("ablation", engine.default_layer())] == 1


def _spearman(a, b):
    ra = np.argsort(np.argsort(a.ravel())).astype(float)
    rb = np.argsort(np.argsort(b.ravel())).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def test_randomising_top_layers_changes_gradcam(images):
    if not default_model_path().is_file():
        pytest.skip("the shipped demo model is absent")
    display = images["demo"]
    before = CamEngine(load_model(default_model_path())).explain(display, "gradcam", target="nodule")
    randomised = load_model(default_model_path())
    rng = np.random.default_rng(0)
    for name in ("block3_conv", "block4_conv", "predictions"):
        layer = randomised.keras_model.get_layer(name)
        layer.set_weights([rng.normal(0, np.std(w) + 1e-3, w.shape).astype(np.float32) for w in layer.get_weights()])
    after = CamEngine(randomised).explain(display, "gradcam", target="nodule")
    assert _spearman(before.cam_feature, after.cam_feature) < 0.5


# ---- normalisation, targets, layers ----

def test_zero_safe_normalisation():
    zeros, empty = normalise(np.zeros((4, 4)))
    assert empty and not zeros.any()
    negative, empty = normalise(-np.ones((3, 3)))
    assert empty and not negative.any()
    flat, empty = normalise(np.full((3, 3), 2.0))  # constant: localises nothing
    assert empty and not flat.any()
    ramp, _ = normalise(np.arange(9.0).reshape(3, 3) - 2.0)
    assert ramp.min() == 0.0 and ramp.max() == 1.0


def test_all_zero_map_stays_zero_and_is_flagged_empty(tmp_path):
    inputs = keras.Input((32, 32, 1))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, activation="relu", name="conv")(inputs))
    model = keras.Model(inputs, layers.Dense(2, activation="sigmoid", kernel_initializer="zeros")(x))
    model.save(tmp_path / "zero.keras")
    engine = CamEngine(load_model(tmp_path / "zero.keras"))
    for method in ("gradcam", "cam", "hirescam", "layercam", "scorecam", "gradcampp", "xgradcam", "ablationcam"):
        result = engine.explain(_display((40, 40), 1), method)
        assert result.empty and not result.cam.any() and np.isfinite(result.cam).all(), method


def test_target_by_name_index_and_negative(engines, images):
    engine = _engine(engines, "demo")
    display = images["demo"]
    by_name = engine.explain(display, "gradcam", target="consolidation")
    by_index = engine.explain(display, "gradcam", target=1)
    assert by_name.target.name == by_index.target.name == "consolidation"
    assert np.allclose(by_name.cam, by_index.cam)
    top = engine.explain(display, "gradcam")
    scores = [p["score"] for p in top.predictions]
    assert top.target.index == int(np.argmax(scores))
    with pytest.raises(RadcamError, match="unknown target"):
        engine.explain(display, "gradcam", target="effusion")
    with pytest.raises(RadcamError, match="out of range"):
        engine.explain(display, "gradcam", target=5)

    sigmoid = _engine(engines, "fixture_h5")
    image = images["fixture_h5"]
    positive = sigmoid.explain(image, "gradcam", target="positive")
    negative = sigmoid.explain(image, "gradcam", target="negative")
    assert positive.target == Target(unit=0, name="positive", sign=1) and positive.target.index == 0
    assert negative.target.name == "negative" and negative.target.sign == -1
    assert sigmoid.explain(image, "gradcam", target=1).target.name == "negative"
    # the complement's map is the negated logit's: where one is positive the other is not
    _, grads_pos = _gradients(sigmoid, image, 1.0)
    _, grads_neg = _gradients(sigmoid, image, -1.0)
    assert np.allclose(grads_pos, -grads_neg, atol=1e-6)
    default = sigmoid.explain(image, "gradcam")
    assert default.target.name == ("positive" if default.predictions[0]["score"] >= 0.5 else "negative")


def _gradients(engine, display, sign):
    fn = engine.compiled(("gradients", engine.default_layer()))
    a, g, *_ = fn(engine.model.prepare(display), np.int32(0), np.float32(sign))
    return np.asarray(a), np.asarray(g)


def test_layer_choice(engines, images):
    engine = _engine(engines, "softmax")
    result = engine.explain(images["softmax"], "gradcam", layer="c1")
    assert result.layer == "c1" and result.cam_feature.shape == (46, 46)
    with pytest.raises(CamError, match="no layer named 'nope'"):
        engine.explain(images["softmax"], "gradcam", layer="nope")
    with pytest.raises(CamError, match="not a spatial map"):
        engine.explain(images["softmax"], "gradcam", layer="gap")
    nested = _engine(engines, "densenet_nested")
    inner = nested.explain(images["densenet_nested"], "gradcam", layer="pool4_conv")
    assert inner.cam_feature.shape == (14, 14)


def test_method_registry():
    assert resolve_method("gradcam++") == "gradcampp" and resolve_method("Grad-CAM") == "gradcam"
    with pytest.raises(CamError, match="unknown CAM method 'magic'.*gradcam.*scorecam"):
        resolve_method("magic")
    assert set(METHODS) == {"cam", "gradcam", "gradcampp", "xgradcam", "layercam", "hirescam", "scorecam",
                            "faster-scorecam", "ablationcam", "eigencam", "guided-backprop", "guided-gradcam"}
    assert resolve_method("Ablation-CAM") == "ablationcam"
    assert [info.title for info in METHODS.values()][:3] == ["CAM", "Grad-CAM", "Grad-CAM++"]
    assert all(info.description.startswith(info.title + ": ") for info in METHODS.values())
    assert all(info.description and "\n" not in info.description for info in METHODS.values())
    assert METHODS["gradcam"].needs_gradients and not METHODS["scorecam"].needs_gradients


# ---- compiled functions are not retraced ----

def test_no_retrace_on_a_second_image(engines, images):
    engine = _engine(engines, "demo")
    from viewer.demo.phantom import make_phantom

    second = np.round(make_phantom(99, 300, ["consolidation"]).image * 255).astype(np.uint8)
    for display in (images["demo"], second, images["demo"][:200]):
        engine.explain(display, "gradcam")
        engine.explain(display, "faster-scorecam", top_n=7, batch_size=3)
        engine.explain(display, "guided-backprop")
        engine.predict(display)
    layer = engine.default_layer()
    for key in (("gradients", layer), ("forward", layer), ("score",), ("guided",), ("predict",)):
        assert engine.trace_counts[key] == 1, (key, engine.trace_counts)


# ---- Score-CAM: batches, progress, cancel, baseline ----

def test_scorecam_batches_progress_cancel_and_baseline(engines, images):
    engine = _engine(engines, "demo")
    display = images["demo"]
    seen = []
    whole = engine.explain(display, "scorecam", target="nodule",
                           reporter=SimpleNamespace(progress=seen.append, cancelled=lambda: False))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2
    assert whole.extra["channels"] == 64
    small = engine.explain(display, "scorecam", target="nodule", batch_size=5)
    assert small.extra["batch_size"] == 5 and np.allclose(small.cam_feature, whole.cam_feature, atol=1e-4)
    blank = engine.model.preprocess(np.zeros((1, 128, 128, 1), np.float32))
    assert np.isclose(whole.extra["baseline"], engine.model.predict(blank)[0, 0], atol=1e-5)
    calls = []
    with pytest.raises(Cancelled):
        engine.explain(display, "scorecam", batch_size=8, reporter=SimpleNamespace(
            progress=lambda fraction: None, cancelled=lambda: calls.append(1) or len(calls) > 2))
    assert len(calls) == 3
    faster = engine.explain(display, "faster-scorecam", top_n=10)
    assert faster.extra["channels"] == 10
    assert 1 <= engine.batch_size_for() <= 256


def test_scorecam_batches_are_even_and_the_blank_score_is_computed_once(engines, images, monkeypatch):
    engine = _engine(engines, "demo")
    display = images["demo"]
    whole = engine.explain(display, "scorecam", target="nodule")
    from viewer.cam import scorecam

    sizes, real = [], scorecam.score_batch
    monkeypatch.setattr(scorecam, "score_batch",
                        lambda engine, raw, maps, *a: sizes.append(len(maps)) or real(engine, raw, maps, *a))
    for batch, expected in ((61, [32, 32]), (64, [64]), (5, [5] * 12 + [4])):
        sizes.clear()
        result = engine.explain(display, "scorecam", target="nodule", batch_size=batch)
        assert sizes == expected
        assert np.allclose(result.cam_feature, whole.cam_feature, atol=1e-4)
    other = engine.explain(images["demo"][::-1].copy(), "scorecam", target="nodule")
    assert other.extra["baseline"] == whole.extra["baseline"]  # black is black whatever the image


def test_scorecam_with_dead_channels(tmp_path):
    inputs = keras.Input((32, 32, 1))
    conv = layers.Conv2D(6, 3, activation="relu", name="conv")
    x = layers.GlobalAveragePooling2D()(conv(inputs))
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    kernel, bias = conv.get_weights()
    kernel[..., :3] = 0.0  # three channels are constant zero: zero-range masks
    conv.set_weights([kernel, bias * 0])
    model.save(tmp_path / "dead.keras")
    engine = CamEngine(load_model(tmp_path / "dead.keras"))
    result = engine.explain(_display((32, 32), 2), "scorecam", target="positive")
    assert np.isfinite(result.cam).all() and np.isfinite(result.cam_feature).all()


def test_unsafe_lambda_model_can_be_explained_once_allowed(tmp_path):
    inputs = keras.Input((24, 24, 1))
    x = layers.Lambda(lambda t: t * 2.0 - 1.0, name="shift")(inputs)
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(layers.GlobalAveragePooling2D()(x)))
    model.save(tmp_path / "lambda.keras")
    from viewer.errors import ModelError

    with pytest.raises(ModelError, match="--unsafe-model"):
        load_model(tmp_path / "lambda.keras")
    result = CamEngine(load_model(tmp_path / "lambda.keras", unsafe=True)).explain(_display((24, 24)), "gradcam")
    assert result.layer == "conv"
