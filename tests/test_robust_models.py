"""Bad or unusual models: each is refused with one clear line, or handled in a documented way (real small Keras
models, saved and loaded; the library and `radcam-cli`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli
from PIL import Image

from viewer.errors import CamError, ModelError

keras = pytest.importorskip("keras")
layers = keras.layers

from viewer.cam import CamEngine  # noqa: E402
from viewer.model import load_model  # noqa: E402


def _save(folder: Path, model, name: str, sidecar: dict | None = None) -> Path:
    path = folder / name
    model.save(path)
    if sidecar is not None:
        Path(str(path) + ".json").write_text(json.dumps(sidecar), encoding="utf-8")
    return path


def _png(folder: Path, name: str, pixels: np.ndarray) -> Path:
    path = folder / name
    Image.fromarray(pixels).save(path)
    return path


def _conv_model(size=32, head=2, activation="softmax", seed=0, strides=1, name="conv"):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 1))
    x = layers.Conv2D(4, 3, strides=strides, activation="relu", name=name)(inputs)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(head, activation=activation, name="head")(x))


def _noise(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("robust")


@pytest.fixture(scope="module")
def image(folder) -> Path:
    """A 32×32 grey PNG: the models' input size, so no resizing stands between it and a reference."""
    return _png(folder, "noise.png", _noise((32, 32), 7))


def _reference(model_path: Path, png: Path, unsafe=False):
    """The saved model called directly on the PNG's pixels / 255 (RadCAM's 'unit' preprocessing)."""
    model = keras.saving.load_model(model_path, compile=False, safe_mode=not unsafe)
    x = np.asarray(Image.open(png), np.float32)[None, ..., None] / 255.0
    return model(x, training=False)


def _csv(out: str) -> tuple[list[str], list[list[str]]]:
    header, *rows = list(csv.reader(out.splitlines()))
    assert header[-1] == "out_of_domain"  # the domain guard's column (tests/test_domain.py), not a score
    return header[:-1], [row[:-1] for row in rows]


# ---- unsafe deserialisation ----

def test_lambda_model_needs_unsafe_model_on_the_command_line(capsys, folder, image, tmp_path):
    inputs = keras.Input((32, 32, 1))
    x = layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, activation="relu", name="conv")(x))
    path = _save(folder, keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x)), "lambda.keras")
    for command in (["predict", image], ["explain", image, "--out", tmp_path / "refused"]):
        code, out, err = run_cli(capsys, *command, "--model", path)
        assert_one_line_error(code, err)
        assert "unsafe deserialisation" in err and "--unsafe-model" in err and out == ""
    assert not (tmp_path / "refused").exists() or not any((tmp_path / "refused").iterdir())

    code, out, err = run_cli(capsys, "predict", image, "--model", path, "--unsafe-model")
    assert code == 0, err
    header, rows = _csv(out)
    expected = float(np.asarray(_reference(path, image, unsafe=True))[0, 0])
    assert header == ["path", "positive"] and np.isclose(float(rows[0][1]), expected, atol=1e-5)
    code, out, err = run_cli(capsys, "explain", image, "--model", path, "--unsafe-model", "--out", tmp_path / "ok")
    assert code == 0, err
    line = json.loads(out)
    assert line["layer"] == "conv" and (tmp_path / "ok" / "noise_overlay.png").is_file()


# ---- no spatial layer ----

@pytest.mark.parametrize("first", ["flatten", "global_pool"])
def test_model_without_spatial_layer_predicts_but_needs_one_for_cams(capsys, folder, image, tmp_path, first):
    inputs = keras.Input((32, 32, 1))
    x = layers.Flatten()(inputs) if first == "flatten" else layers.GlobalAveragePooling2D()(inputs)
    path = _save(folder, keras.Model(inputs, layers.Dense(2, activation="softmax", name="head")(x)),
                 f"{first}.keras")
    engine = CamEngine(load_model(path))
    display = np.asarray(Image.open(image))
    scores = [p["score"] for p in engine.predict(display)]
    assert np.allclose(scores, np.asarray(_reference(path, image))[0], atol=1e-5)
    for method in ("gradcam", "scorecam", "eigencam", "cam", "guided-gradcam"):
        with pytest.raises(CamError, match="no layer with a spatial .* output"):
            engine.explain(display, method)
    with pytest.raises(CamError, match="no layer with a spatial"):
        engine.layers()
    # Guided backpropagation differentiates to the input: it needs no target layer.
    guided = engine.explain(display, "guided-backprop")
    assert guided.layer == "input" and guided.cam.shape == (32, 32) and np.isfinite(guided.cam).all()

    code, out, err = run_cli(capsys, "layers", "--model", path)
    assert_one_line_error(code, err)
    assert "no layer with a spatial" in err and out == ""
    code, out, err = run_cli(capsys, "explain", image, "--model", path, "--out", tmp_path)
    assert_one_line_error(code, err)
    assert "no layer with a spatial" in err and not any(tmp_path.iterdir())
    code, out, err = run_cli(capsys, "predict", image, "--model", path)
    assert code == 0, err
    assert np.allclose([float(v) for v in _csv(out)[1][0][1:]], scores, atol=1e-5)


# ---- several inputs, several outputs ----

def test_several_inputs_are_one_line_on_the_command_line(capsys, folder, image):
    a, b = keras.Input((32, 32, 1)), keras.Input((32, 32, 1))
    merged = layers.GlobalAveragePooling2D()(layers.Concatenate()([a, b]))
    path = _save(folder, keras.Model([a, b], layers.Dense(1)(merged)), "two_in.keras")
    for command in (["predict", image], ["layers"]):
        code, out, err = run_cli(capsys, *command, "--model", path)
        assert_one_line_error(code, err)
        assert "2 inputs" in err and "one image input" in err and out == ""


@pytest.fixture(scope="module")
def two_outputs(folder) -> Path:
    keras.utils.set_random_seed(4)
    inputs = keras.Input((32, 32, 1))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, activation="relu", name="conv")(inputs))
    model = keras.Model(inputs, [layers.Dense(2, activation="softmax", name="finding")(x),
                                 layers.Dense(1, activation="sigmoid", name="quality")(x)])
    return _save(folder, model, "two_out.keras")


def test_several_outputs_need_a_choice_on_the_command_line(capsys, two_outputs, image, tmp_path):
    for command in (["predict", image], ["explain", image, "--out", tmp_path], ["layers"]):
        code, out, err = run_cli(capsys, *command, "--model", two_outputs)
        assert_one_line_error(code, err)
        assert "2 outputs ['finding', 'quality']" in err and "--model-output" in err and out == ""
    code, _, err = run_cli(capsys, "predict", image, "--model", two_outputs, "--model-output", "severity")
    assert_one_line_error(code, err)
    assert "no output named 'severity'" in err and "'finding', 'quality'" in err
    code, _, err = run_cli(capsys, "predict", image, "--model", two_outputs, "--model-output", "2")
    assert_one_line_error(code, err)
    assert "output 2 out of range" in err


def test_several_outputs_picked_by_name_or_index_are_scored_and_explained(capsys, two_outputs, image, tmp_path):
    finding, quality = (np.asarray(t)[0] for t in _reference(two_outputs, image))
    picks = {"quality": (["positive"], quality), "1": (["positive"], quality),
             "finding": (["class 0", "class 1"], finding), "0": (["class 0", "class 1"], finding)}
    for pick, (labels, expected) in picks.items():
        code, out, err = run_cli(capsys, "predict", image, "--model", two_outputs, "--model-output", pick)
        assert code == 0, err
        header, (row,) = _csv(out)
        assert header == ["path", *labels], pick
        assert np.allclose([float(v) for v in row[1:]], expected, atol=1e-5), pick

    code, out, err = run_cli(capsys, "explain", image, "--model", two_outputs, "--model-output", "quality",
                             "--target", "negative", "--out", tmp_path / "quality")
    assert code == 0, err
    line = json.loads(out)
    assert [p["name"] for p in line["predictions"]] == ["positive"]
    assert np.isclose(line["predictions"][0]["score"], quality[0], atol=1e-5)
    assert line["target"]["name"] == "negative"

    # The sidecar's choice is used without the option, and the option wins over it.
    Path(str(two_outputs) + ".json").write_text(json.dumps({"output": "finding"}), encoding="utf-8")
    try:
        code, out, err = run_cli(capsys, "explain", image, "--model", two_outputs, "--out", tmp_path / "finding")
        assert code == 0, err
        line = json.loads(out)
        assert np.allclose([p["score"] for p in line["predictions"]], finding, atol=1e-5)
        code, out, err = run_cli(capsys, "predict", image, "--model", two_outputs, "--model-output", "quality")
        assert code == 0 and _csv(out)[0] == ["path", "positive"], err
    finally:
        Path(str(two_outputs) + ".json").unlink()


# ---- NaN weights, NaN/inf outputs ----

def test_nan_weights_are_refused_when_the_model_loads(capsys, folder, image, tmp_path):
    model = _conv_model()
    conv = model.get_layer("conv")
    kernel, bias = conv.get_weights()
    kernel[0, 0, 0, 1] = np.nan  # ReLU turns NaN into 0: the scores would look normal
    conv.set_weights([kernel, bias])
    path = _save(folder, model, "nan.keras")
    with pytest.raises(ModelError, match=r"weights hold NaN/inf values \(conv/kernel\)"):
        load_model(path)
    for command in (["predict", image], ["explain", image, "--out", tmp_path]):
        code, out, err = run_cli(capsys, *command, "--model", path)
        assert_one_line_error(code, err)
        assert "NaN/inf" in err and out == ""
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def overflowing(folder) -> Path:
    """Finite weights whose scores overflow to ±inf (softmax: NaN) on a bright image, not on a black one."""
    model = _conv_model(seed=2)
    conv = model.get_layer("conv")
    conv.set_weights([np.ones_like(conv.get_weights()[0]), np.zeros(4, np.float32)])
    kernel = np.zeros((4, 2), np.float32)
    kernel[:, 0], kernel[:, 1] = 3e38, -3e38
    model.get_layer("head").set_weights([kernel, np.zeros(2, np.float32)])
    return _save(folder, model, "overflow.keras")


def test_nan_output_for_an_image_is_an_error_not_a_nan_map(capsys, overflowing, folder, tmp_path):
    engine = CamEngine(load_model(overflowing))
    black, bright = np.zeros((32, 32), np.uint8), np.full((32, 32), 255, np.uint8)
    assert [p["score"] for p in engine.predict(black)] == [0.5, 0.5]
    with pytest.raises(ModelError, match="the model output is NaN/inf for this image"):
        engine.predict(bright)
    for method in ("gradcam", "scorecam", "eigencam", "cam", "guided-backprop", "guided-gradcam"):
        with pytest.raises(ModelError, match="the model output is NaN/inf for this image"):
            engine.explain(bright, method)

    black_png, bright_png = _png(folder, "black.png", black), _png(folder, "bright.png", bright)
    code, out, err = run_cli(capsys, "explain", bright_png, "--model", overflowing, "--out", tmp_path / "one")
    assert_one_line_error(code, err)
    assert "NaN/inf for this image" in err and out == "" and not any((tmp_path / "one").iterdir())
    code, out, err = run_cli(capsys, "predict", black_png, bright_png, "--model", overflowing)
    assert code == 2
    header, rows = _csv(out)
    assert [row[0] for row in rows] == [str(black_png)] and rows[0][1:] == ["0.5", "0.5"]
    errors = [line for line in err.splitlines() if line.startswith("radcam: error: ")]
    assert len(errors) == 2 and str(bright_png) in errors[0] and "NaN/inf" in errors[0] and "1 of 2" in errors[1]


def test_a_map_that_overflows_is_an_error_not_silently_empty(folder):
    # Finite, saturated sigmoid (score 1.0): Grad-CAM is fine, Grad-CAM++'s cubed gradients overflow.
    model = _conv_model(head=1, activation="sigmoid", seed=3)
    conv = model.get_layer("conv")
    conv.set_weights([np.ones_like(conv.get_weights()[0]), np.zeros(4, np.float32)])
    model.get_layer("head").set_weights([np.full((4, 1), 1e30, np.float32), np.zeros(1, np.float32)])
    engine = CamEngine(load_model(_save(folder, model, "saturated.keras")))
    display = _noise((32, 32), 3)
    assert engine.predict(display)[0]["score"] == 1.0
    result = engine.explain(display, "gradcam")
    assert np.isfinite(result.cam).all()
    with pytest.raises(CamError, match="the gradcampp map is NaN/inf for this image.*layer 'conv'"):
        engine.explain(display, "gradcampp")


def test_constant_map_is_flagged_empty_not_stretched_to_ones(capsys, folder, image, tmp_path):
    model = _conv_model(head=2, activation="sigmoid", seed=5)
    conv = model.get_layer("conv")
    conv.set_weights([np.zeros_like(conv.get_weights()[0]), np.array([1.0, 2.0, 3.0, 4.0], np.float32)])
    model.get_layer("head").set_weights([np.full((4, 2), 0.5, np.float32), np.zeros(2, np.float32)])
    path = _save(folder, model, "constant.keras")
    engine = CamEngine(load_model(path))
    for method in ("gradcam", "hirescam", "scorecam", "cam"):
        result = engine.explain(np.asarray(Image.open(image)), method)
        assert result.empty and not result.cam.any(), method
    code, out, err = run_cli(capsys, "explain", image, "--model", path, "--out", tmp_path)
    assert code == 0, err
    assert json.loads(out)["empty"] is True and not np.load(tmp_path / "noise_cam.npy").any()
    assert json.loads((tmp_path / "noise.json").read_text())["empty_map"] is True


# ---- input size far from the image ----

@pytest.mark.parametrize("model_size, image_size, strides", [(32, 1024, 1), (512, 64, 4)])
def test_input_size_far_from_the_image(folder, model_size, image_size, strides):
    import tensorflow as tf

    path = _save(folder, _conv_model(model_size, strides=strides, seed=6), f"size_{model_size}.keras")
    display = _noise((image_size, image_size), 8)
    for interpolation, method in (("antialias", "bilinear"), ("nearest", "nearest")):
        loaded = load_model(path, overrides={"interpolation": interpolation})
        # The image is resized to the model input with the chosen interpolation...
        expected = tf.image.resize(display[None, ..., None].astype(np.float32), (model_size, model_size),
                                   method=method, antialias=interpolation == "antialias") / 255.0
        assert np.allclose(loaded.prepare(display), expected, atol=1e-4)
        engine = CamEngine(loaded)
        for cam_method in ("gradcam", "scorecam", "guided-backprop"):
            result = engine.explain(display, cam_method)
            # ...and the map comes back at the image's own size.
            assert result.cam.shape == (image_size, image_size) and result.cam.dtype == np.float32
            assert np.isfinite(result.cam).all() and 0.0 <= result.cam.min() and result.cam.max() <= 1.0
            assert np.isfinite([p["score"] for p in result.predictions]).all()


# ---- outputs that are not probabilities ----

def test_logits_are_written_as_logits_and_shown_as_probabilities(capsys, folder, image, tmp_path):
    model = _conv_model(head=3, activation=None, seed=7)
    head = model.get_layer("head")
    head.set_weights([head.get_weights()[0], np.array([5.0, -5.0, 0.0], np.float32)])
    path = _save(folder, model, "logits.keras")
    raw = np.asarray(_reference(path, image))[0]
    assert raw.max() > 1.0 and raw.min() < 0.0

    code, out, err = run_cli(capsys, "predict", image, "--model", path)
    assert code == 0, err
    header, (row,) = _csv(out)
    assert header == ["path", "class 0 (logit)", "class 1 (logit)", "class 2 (logit)"]
    assert np.allclose([float(v) for v in row[1:]], raw, atol=1e-4)

    code, out, err = run_cli(capsys, "explain", image, "--model", path, "--out", tmp_path)
    assert code == 0, err
    shown = np.array([p["score"] for p in json.loads(out)["predictions"]])
    softmax = np.exp(raw - raw.max()) / np.exp(raw - raw.max()).sum()
    assert np.allclose(shown, softmax, atol=1e-5) and np.isclose(shown.sum(), 1.0)

    # One logit unit: sigmoid, and the default target follows it (bias -5: 'negative').
    single = _conv_model(head=1, activation=None, seed=8)
    single.get_layer("head").set_weights([single.get_weights()[-2], np.array([-5.0], np.float32)])
    single_path = _save(folder, single, "logit1.keras")
    z = float(np.asarray(_reference(single_path, image))[0, 0])
    result = CamEngine(load_model(single_path)).explain(np.asarray(Image.open(image)), "gradcam")
    assert np.isclose(result.predictions[0]["score"], 1 / (1 + np.exp(-z)), atol=1e-5)
    assert result.target.name == "negative"


def test_a_sidecar_calling_logits_probabilities_is_caught(capsys, folder, image, tmp_path):
    model = _conv_model(head=2, activation=None, seed=9)
    head = model.get_layer("head")
    head.set_weights([head.get_weights()[0], np.array([4.0, -4.0], np.float32)])
    path = _save(folder, model, "mislabelled.keras", sidecar={"output_kind": "sigmoid"})
    engine = CamEngine(load_model(path))
    with pytest.raises(ModelError, match="not a probability although output_kind is 'sigmoid'.*'logits'"):
        engine.predict(np.asarray(Image.open(image)))
    for command in (["predict", image], ["explain", image, "--out", tmp_path]):
        code, out, err = run_cli(capsys, *command, "--model", path)
        assert_one_line_error(code, err)
        assert "not a probability" in err and out == ""


# ---- Score-CAM out of memory ----

@pytest.fixture(scope="module")
def score_engine(folder):
    model = _conv_model(seed=10)
    return CamEngine(load_model(_save(folder, model, "score.keras")))


def _failing_above(engine, monkeypatch, limit, error):
    """Make the engine's batched Score-CAM pass fail for batches larger than `limit`; returns the sizes tried."""
    import tensorflow as tf

    from viewer.cam import scorecam

    real, sizes = scorecam.score_batch, []

    def batch(scored, raw, maps, index, sign):
        assert scored is engine
        sizes.append(len(maps))
        if len(maps) > limit:
            if error == "tf":
                raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
            raise MemoryError()
        return real(scored, raw, maps, index, sign)

    monkeypatch.setattr(scorecam, "score_batch", batch)
    return sizes


@pytest.mark.parametrize("error", ["tf", "memory"])
def test_scorecam_halves_its_batch_when_memory_runs_out(score_engine, monkeypatch, error):
    display = _noise((32, 32), 11)
    score_engine.score_batch_limit = None
    reference = score_engine.explain(display, "scorecam", target=0, batch_size=5)  # 4 channel maps, one batch
    sizes = _failing_above(score_engine, monkeypatch, 2, error)
    result = score_engine.explain(display, "scorecam", target=0, batch_size=4)
    assert sizes == [4, 2, 2]  # 4 fails; the four maps go two at a time
    assert np.allclose(result.cam_feature, reference.cam_feature, atol=1e-5)
    assert np.isclose(result.extra["baseline"], reference.extra["baseline"], atol=1e-6)
    assert result.extra["batch_size"] == 2 and score_engine.score_batch_limit == 2
    sizes.clear()
    again = score_engine.explain(display, "scorecam", target=0)  # remembered: no failed pass this time
    assert sizes == [2, 2] and np.allclose(again.cam_feature, reference.cam_feature, atol=1e-5)
    score_engine.score_batch_limit = None


def test_scorecam_gives_up_when_one_image_does_not_fit(score_engine, monkeypatch):
    score_engine.score_batch_limit = None
    sizes = _failing_above(score_engine, monkeypatch, 0, "tf")
    with pytest.raises(CamError, match="^Score-CAM ran out of memory even one masked image at a time$"):
        score_engine.explain(_noise((32, 32), 12), "faster-scorecam", batch_size=3)
    assert sizes == [2, 1]  # four maps at most 3 per batch go as 2 + 2; then one at a time
    score_engine.score_batch_limit = None
