"""viewer.io on PNG/JPEG/TIFF/BMP files made with Pillow."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from viewer.errors import StudyError
from viewer.io import Window, open_image

RNG = np.random.default_rng(3)
GREY = RNG.integers(0, 256, (20, 30), dtype=np.uint8)
RGB = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_8_bit_grey_renders_unchanged(tmp_path, suffix):
    path = tmp_path / f"grey{suffix}"
    Image.fromarray(GREY).save(path)
    image = open_image(path)
    assert image.kind == "image" and image.modality.dtype == np.float32
    assert image.default_window == Window(128.0, 256.0, "auto")
    assert image.render().dtype == np.uint8 and np.array_equal(image.render(), GREY)
    assert np.array_equal(image.render(invert=True), 255 - GREY)


def test_16_bit_grey_keeps_its_range_and_gets_an_auto_window(tmp_path):
    deep = (RNG.integers(0, 4096, (40, 40)) * 16).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    image = open_image(path)
    assert np.array_equal(image.modality, deep.astype(np.float32)) and image.modality.max() > 255
    low, high = np.percentile(deep, [0.5, 99.5])
    window = image.default_window
    assert window.explanation == "auto"
    assert window.center - 0.5 - (window.width - 1) / 2 == pytest.approx(low)
    assert window.center - 0.5 + (window.width - 1) / 2 == pytest.approx(high)
    expected = np.rint(np.clip((deep - low) / (high - low), 0, 1) * 255)
    assert np.abs(image.render().astype(int) - expected).max() <= 1


def test_rgb_renders_unchanged_and_rgba_drops_alpha(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "rgb.png")
    assert np.array_equal(open_image(tmp_path / "rgb.png").render(), RGB)
    rgba = np.dstack([RGB, np.full(GREY.shape, 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    image = open_image(tmp_path / "rgba.png")
    assert image.is_color and np.array_equal(image.render(), RGB)


def test_grey_with_alpha_becomes_grey(tmp_path):
    Image.fromarray(np.dstack([GREY, GREY // 2]), "LA").save(tmp_path / "la.png")
    assert np.array_equal(open_image(tmp_path / "la.png").render(), GREY)


def test_palette_images(tmp_path):
    grey_palette = Image.fromarray(GREY).convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    grey_palette.putpalette([v for i in range(256) for v in (i, i, i)])
    grey_palette.save(tmp_path / "greyp.png")
    with Image.open(tmp_path / "greyp.png") as im:
        expected_grey = np.asarray(im.convert("L"))
    image = open_image(tmp_path / "greyp.png")
    assert not image.is_color and np.array_equal(image.render(), expected_grey)

    colour = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    colour.save(tmp_path / "colour.png")
    with Image.open(tmp_path / "colour.png") as im:
        expected = np.asarray(im.convert("RGB"))
    image = open_image(tmp_path / "colour.png")
    assert image.is_color and np.array_equal(image.render(), expected)


def test_cmyk_becomes_rgb(tmp_path):
    Image.fromarray(RGB).convert("CMYK").save(tmp_path / "cmyk.tif")
    with Image.open(tmp_path / "cmyk.tif") as im:
        expected = np.asarray(im.convert("RGB"))
    image = open_image(tmp_path / "cmyk.tif")
    assert image.render().shape == (20, 30, 3) and np.array_equal(image.render(), expected)


def test_jpeg_and_an_image_without_suffix(tmp_path):
    Image.fromarray(GREY).save(tmp_path / "x.jpg", quality=95)
    with Image.open(tmp_path / "x.jpg") as im:
        assert np.array_equal(open_image(tmp_path / "x.jpg").render(), np.asarray(im))
    Image.fromarray(GREY).save(tmp_path / "nosuffix", format="PNG")
    assert np.array_equal(open_image(tmp_path / "nosuffix").render(), GREY)


@pytest.mark.parametrize("limit", [400, 200])  # 600 pixels: Pillow's warning level (400), its error level (200)
def test_decompression_bomb_is_refused(tmp_path, monkeypatch, limit):
    Image.fromarray(GREY).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(StudyError, match=rf"bomb\.png: image too large: 600 pixels \(limit {limit}\)"):
        open_image(tmp_path / "bomb.png")


def test_corrupt_png_and_frame_out_of_range(tmp_path):
    Image.fromarray(GREY).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(StudyError, match=r"cut\.png: cannot read: OSError"):
        open_image(tmp_path / "cut.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(StudyError, match=r"text\.png: not a DICOM file or an image format Pillow can read"):
        open_image(tmp_path / "text.png")
    with pytest.raises(StudyError, match=r"ok\.png: frame 1 out of range"):
        open_image(tmp_path / "ok.png", frame=1)


@pytest.mark.parametrize("orientation, upright", [
    (1, lambda a: a), (3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a, 1)),
])
def test_exif_orientation_is_applied(tmp_path, orientation, upright):
    stored = np.zeros((40, 60), np.uint8)
    stored[:10, :20] = 255  # a bright block in the stored top-left corner
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    path = tmp_path / f"film_{orientation}.png"
    image.save(path, exif=exif)
    assert np.array_equal(open_image(path).render(), upright(stored))
