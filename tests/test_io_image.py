"""GreyValues: the histogram percentiles equal numpy's, and opening never builds a full-size float copy."""

import numpy as np
import pytest

from viewer.io import open_image
from viewer.io.image import GreyValues


@pytest.mark.parametrize("dtype, low, high", [(np.uint16, 0, 4096), (np.int16, -2000, 3000), (np.uint8, 0, 256),
                                              (np.int32, -3_000_000, 3_000_000)])  # the last: no index, per pixel
@pytest.mark.parametrize("padding", [None, (-2000, -1000), (0, 0), (-9000, -8000)])
def test_percentiles_equal_numpy_linear_without_padding(dtype, low, high, padding):
    rng = np.random.default_rng(7)
    stored = rng.integers(max(low, np.iinfo(dtype).min), high, (97, 89)).astype(dtype)
    values = GreyValues(stored, lambda a: a * -0.5 + 10)  # a decreasing modality LUT: order is by value
    keep = np.ones(stored.shape, bool) if padding is None else (stored < padding[0]) | (stored > padding[1])
    expected = np.percentile(stored[keep].astype(np.float64) * -0.5 + 10, (0.5, 25, 99.5))
    assert np.allclose(values.percentiles((0.5, 25, 99.5), padding), expected)


def test_percentiles_of_nothing_left_is_none():
    values = GreyValues(np.full((4, 4), 7, np.uint16), lambda a: a)
    assert values.percentiles((1, 99), (7, 7)) is None


def test_opening_and_rendering_make_no_float_copy_of_the_frame(make_dicom):
    path = make_dicom("ramp.dcm", np.arange(256 * 256, dtype=np.uint16).reshape(256, 256) % 4096, bits_stored=12)
    image = open_image(path)
    image.render()
    assert image.shape == (256, 256) and image.value_span() == 4095
    assert "array" not in vars(image._values)  # only `modality` builds the 4-byte-a-pixel array
    assert image.modality.dtype == np.float32


def test_a_10000_square_16_bit_frame_opens_and_renders_within_three_times_its_size(tmp_path):
    import tracemalloc

    from conftest import write_dicom

    rows = np.arange(10_000, dtype=np.uint16)[:, None]
    pixels = (rows * 3 + np.arange(10_000, dtype=np.uint16)[None, :]) % 4096
    path = write_dicom(tmp_path / "huge.dcm", pixels, bits_stored=12)
    frame_bytes = pixels.nbytes
    del pixels, rows
    tracemalloc.start()
    try:
        image = open_image(path)
        shown = image.render()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert shown.shape == (10_000, 10_000) and shown.dtype == np.uint8
    assert shown.min() == 0 and shown.max() == 255  # the auto window spans the ramp
    assert peak < 3 * frame_bytes, f"peak {peak / 2**20:.0f} MB for a {frame_bytes / 2**20:.0f} MB frame"


@pytest.mark.parametrize("stored", [np.full((8, 8), np.nan, np.float32), np.zeros((0, 8), np.uint16)],
                         ids=["all-nan-float", "empty"])
def test_span_of_a_frame_without_finite_values_is_one(stored):
    values = GreyValues(stored, lambda a: np.asarray(a, np.float64))
    assert values.percentiles((0.0, 100.0)) is None
    assert values.span() == 1.0  # a window drag still has a scale; before, unpacking None raised TypeError


def test_the_pixel_histogram_is_counted_once_for_auto_window_and_span():
    stored = (np.arange(64 * 64) % 1000).astype(np.uint16).reshape(64, 64)
    values = GreyValues(stored, lambda a: a * 1.0)
    first = values.percentiles((1.0, 99.0), exclude_stored=(0, 10))
    counts = values._counts
    assert values.span() == 999.0 and values._counts is counts  # not counted again
    assert np.array_equal(values.percentiles((1.0, 99.0), exclude_stored=(0, 10)), first)  # exclusion on a copy
