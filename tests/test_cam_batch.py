"""Batched CAM over images (issue 19): explain_batch equals one explain() per image, for every method, on the demo
model, a DenseNet-shaped model and a single-sigmoid one; the shared pass is traced once per (layer, batch size)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

keras = pytest.importorskip("keras")
layers = keras.layers

from viewer.cam import METHODS, CamEngine, Cancelled, Quiet  # noqa: E402
from viewer.cam.batch import explain_batch, pass_size  # noqa: E402
from viewer.cam.multi import SHARED_PASS  # noqa: E402
from viewer.errors import CamError, ModelError  # noqa: E402
from viewer.model import load_model  # noqa: E402


def _images(count: int, seed: int = 0, colour: bool = False) -> list[np.ndarray]:
    """Display images of different sizes (each map is resized to its own image)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (70 + 9 * i, 60 + 5 * i) + ((3,) if colour else ()), dtype=np.uint8)
            for i in range(count)]


def _assert_equal_to_explain(engine, images, method, target=None, **options):
    batched = explain_batch(engine, images, method=method, target=target, **options)
    assert len(batched) == len(images)
    for image, got in zip(images, batched, strict=True):
        want = engine.explain(image, method=method, target=target, **options)
        assert got.target == want.target
        assert (got.method, got.layer, got.empty) == (want.method, want.layer, want.empty)
        assert got.cam.shape == image.shape[:2]
        np.testing.assert_allclose(got.cam, want.cam, atol=1e-4)
        assert [p["name"] for p in got.predictions] == [p["name"] for p in want.predictions]
        np.testing.assert_allclose([p["score"] for p in got.predictions], [p["score"] for p in want.predictions],
                                   atol=1e-5)


@pytest.fixture(scope="module")
def densenet_shaped(tmp_path_factory):
    """DenseNet121 (dense blocks, batch norm, concatenations), 14 sigmoid outputs, at 64×64 to stay quick."""
    folder = tmp_path_factory.mktemp("densenet_shaped")
    keras.utils.set_random_seed(11)
    base = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(64, 64, 3))
    scores = layers.Dense(14, activation="sigmoid", name="scores")(layers.GlobalAveragePooling2D()(base.output))
    keras.Model(base.input, scores).save(folder / "densenet.keras")
    return CamEngine(load_model(folder / "densenet.keras"))


@pytest.fixture(scope="module")
def single_sigmoid(tmp_path_factory):
    """One sigmoid unit: the top class is the label or its complement, per image."""
    folder = tmp_path_factory.mktemp("single_sigmoid")
    keras.utils.set_random_seed(5)
    inputs = keras.Input((32, 32, 1))
    x = layers.Conv2D(6, 3, activation="relu", name="c1")(inputs)
    x = layers.Conv2D(8, 3, activation="relu", name="c2")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="out")(layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(folder / "single.keras")
    return CamEngine(load_model(folder / "single.keras"))


@pytest.fixture(scope="module")
def nested_softmax(tmp_path_factory):
    """A base model nested in a Sequential (the hook reaches a layer inside it), three softmax classes."""
    folder = tmp_path_factory.mktemp("nested_softmax")
    keras.utils.set_random_seed(3)
    inputs = keras.Input((40, 40, 3))
    x = layers.Conv2D(8, 3, activation="relu", name="inner1")(inputs)
    x = layers.BatchNormalization(name="inner_bn")(x)
    x = layers.Conv2D(12, 3, activation="relu", name="inner2")(x)
    base = keras.Model(inputs, x, name="trunk")
    model = keras.Sequential([keras.Input((40, 40, 3)), base, layers.GlobalAveragePooling2D(),
                              layers.Dense(3, activation="softmax", name="out")])
    model.save(folder / "nested.keras")
    return CamEngine(load_model(folder / "nested.keras"))


@pytest.mark.parametrize("method", SHARED_PASS)
def test_nested_softmax_equals_one_explain_per_image(nested_softmax, method):
    images = _images(5, seed=15, colour=True)
    _assert_equal_to_explain(nested_softmax, images, method, batch_size=2)
    _assert_equal_to_explain(nested_softmax, images[:2], method, target=2, layer="inner1")


@pytest.mark.parametrize("method", METHODS)
def test_demo_every_method_equals_one_explain_per_image(demo_engine, method):
    # 5 images at 4 a pass: the second chunk is padded
    _assert_equal_to_explain(demo_engine, _images(5), method, top_n=8, batch_size=4)


@pytest.mark.parametrize("target", [0, "consolidation"])
def test_demo_explicit_target(demo_engine, target):
    _assert_equal_to_explain(demo_engine, _images(3, seed=1), "gradcam", target=target)


def test_demo_colour_images_and_an_explicit_layer(demo_engine):
    layer = [info.name for info in demo_engine.layers()][-3]
    _assert_equal_to_explain(demo_engine, _images(3, seed=2, colour=True), "gradcampp", layer=layer)


@pytest.mark.parametrize("method", SHARED_PASS)  # the fallback (one explain() each) is tested on the demo model
def test_densenet_shaped_equals_one_explain_per_image(densenet_shaped, method):
    _assert_equal_to_explain(densenet_shaped, _images(3, seed=4), method, batch_size=2)


def test_densenet_shaped_inner_layer_and_target(densenet_shaped):
    _assert_equal_to_explain(densenet_shaped, _images(3, seed=6), "gradcam", target="5", layer="pool3_conv")


def test_single_sigmoid_top_class_and_complement_per_image(single_sigmoid):
    images = _images(8, seed=9) + [np.zeros((40, 40), np.uint8), np.full((40, 40), 255, np.uint8)]
    _assert_equal_to_explain(single_sigmoid, images, "gradcam", batch_size=4)
    _assert_equal_to_explain(single_sigmoid, images[:3], "hirescam", target=1)  # "not X" on purpose


def test_traced_once_per_layer_and_batch_size(single_sigmoid):
    engine = single_sigmoid
    before = dict(engine.trace_counts)
    for count in (5, 8, 3, 1):
        engine.explain_batch(_images(count, seed=count), method="gradcam", batch_size=4)
    engine.explain_batch(_images(3), method="xgradcam", target=0, batch_size=4)  # another method, same pass
    key = ("batch_gradients", "c2", 4)
    assert engine.trace_counts[key] == 1  # whoever traced it first (this module shares the engine)
    assert [k for k in engine.trace_counts if k not in before] in ([], [key])


def test_automatic_pass_size(single_sigmoid):
    engine = single_sigmoid
    assert [pass_size(engine, n, None) for n in (1, 2, 3, 5, 16, 17, 500)] == [1, 2, 4, 8, 16, 32, 32]
    assert pass_size(engine, 3, 7) == 7
    with pytest.raises(CamError, match="at least 1"):
        pass_size(engine, 3, 0)


def test_engine_delegates_and_empty_input(demo_engine):
    assert demo_engine.explain_batch([], method="gradcam") == []
    images = _images(2, seed=8)
    one = demo_engine.explain_batch(images, method="layercam")
    two = explain_batch(demo_engine, images, method="layercam")
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a.cam, b.cam)


def test_preprocessing_in_a_thread_pool_gives_the_same_maps(demo_engine):
    images = _images(7, seed=12)
    alone = demo_engine.explain_batch(images, method="gradcam", batch_size=2)
    with ThreadPoolExecutor(3) as pool:
        pooled = demo_engine.explain_batch(images, method="gradcam", batch_size=2, pool=pool)
    for a, b in zip(alone, pooled, strict=True):
        np.testing.assert_array_equal(a.cam, b.cam)
        assert a.target == b.target and a.predictions == b.predictions
        assert set(b.timings_ms) == {"preprocess", "cam"}


class _Recorder(Quiet):
    def __init__(self, stop_after: int | None = None) -> None:
        self.seen: list[float] = []
        self.stop_after = stop_after

    def progress(self, fraction: float) -> None:
        self.seen.append(fraction)

    def cancelled(self) -> bool:
        return self.stop_after is not None and len(self.seen) >= self.stop_after


@pytest.mark.parametrize("method", ["gradcam", "eigencam"])
def test_progress_per_chunk_and_cancel(demo_engine, method):
    images = _images(5, seed=13)
    recorder = _Recorder()
    demo_engine.explain_batch(images, method=method, batch_size=2, reporter=recorder)
    assert recorder.seen[-1] == 1.0 and recorder.seen == sorted(recorder.seen)
    with pytest.raises(Cancelled):
        demo_engine.explain_batch(images, method=method, batch_size=2, reporter=_Recorder(stop_after=1))


def test_a_bad_image_is_a_clear_error(demo_engine):
    with pytest.raises(ModelError, match="shape"):
        demo_engine.explain_batch([_images(1)[0], np.zeros((4, 4, 2), np.uint8)], method="gradcam")


def test_out_of_memory_halves_the_pass_and_remembers_it(single_sigmoid):
    import tensorflow as tf

    engine = single_sigmoid
    images = _images(7, seed=14)
    engine.explain_batch(images[:1], method="gradcam", batch_size=4)  # the size-4 pass, compiled
    key = ("batch_gradients", "c2", 4)
    real = engine._functions[key]

    def exhausted(*args):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    engine._functions[key] = exhausted  # a pass too big for the device, as a GPU says it
    try:
        _assert_equal_to_explain(engine, images, "gradcam", batch_size=4)
        assert engine.score_batch_limit == 2 and engine.trace_counts[("batch_gradients", "c2", 2)] == 1
        assert pass_size(engine, 7, 4) == 2 and pass_size(engine, 7, None) == 2
    finally:
        engine._functions[key] = real
        engine.score_batch_limit = None
