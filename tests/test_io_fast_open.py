"""open_image's per-image costs a batch pays (issue 19): the automatic window made only when asked for, the render's
gather in bands; the same windows and the same pixels as before."""

from __future__ import annotations

import pickle

import numpy as np

from viewer.io import open_image
from viewer.io.image import TAKE_CHUNK, GreyValues
from viewer.io.windows import auto_window


def _ramp(size: int = 256) -> np.ndarray:
    return (np.arange(size * size, dtype=np.uint16).reshape(size, size) * 7) % 4096


def test_a_file_with_its_own_window_renders_without_the_automatic_windows_histogram(make_dicom):
    path = make_dicom("windowed.dcm", _ramp(), bits_stored=12, WindowCenter=1000, WindowWidth=800)
    image = open_image(path)
    shown = image.render()
    assert image.default_window.center == 1000 and image.default_window.width == 800
    assert "_counts" not in vars(image._values)  # the histogram of every pixel was not made
    # Asked for, the list is what it always was: the file's window, then the automatic one over the pixels.
    windows = image.windows
    assert "_counts" in vars(image._values)
    assert len(windows) == 2 and windows[0] == image.default_window
    assert windows[1] == auto_window(GreyValues(_ramp(), lambda a: a))
    assert image.windows is windows  # made once
    assert np.array_equal(image.render(), shown)


def test_a_file_without_a_window_gets_the_automatic_one_at_once(make_dicom):
    image = open_image(make_dicom("plain.dcm", _ramp(), bits_stored=12))
    assert "_counts" in vars(image._values)  # it is the default window: the render needs it
    assert image.windows == [image.default_window] == [auto_window(GreyValues(_ramp(), lambda a: a))]


def test_an_image_whose_automatic_window_is_not_made_yet_travels_between_processes(make_dicom):
    """The viewer's decoding processes send images back pickled: the pending window goes with them."""
    path = make_dicom("windowed.dcm", _ramp(), bits_stored=12, WindowCenter=1000, WindowWidth=800)
    image = open_image(path)
    copy = pickle.loads(pickle.dumps(image))
    assert copy.windows == open_image(path).windows
    assert np.array_equal(copy.render(), image.render())


def test_the_render_gathers_in_bands_the_same_pixels_as_one_gather():
    rng = np.random.default_rng(19)
    stored = rng.integers(0, 4096, (TAKE_CHUNK // 300 + 7, 300)).astype(np.uint16)  # several bands, a ragged end
    values = GreyValues(stored, lambda a: a.astype(np.float64))
    table_8bit = (np.arange(4096) * 255 // 4095).astype(np.float64)
    lut = table_8bit[values.low:].astype(np.uint8)
    shown = values.map(lambda table: table_8bit[table.astype(np.int64)])
    assert shown.dtype == np.uint8 and shown.shape == stored.shape
    assert values.index is not None
    assert np.array_equal(shown, lut[values.index])
    assert np.array_equal(shown, table_8bit[stored].astype(np.uint8))


def test_releasing_the_pixels_makes_no_histogram_for_a_window_not_made_yet(make_dicom):
    """A batch releases each image's pixels once rendered: the automatic window it never asked for is dropped, not
    made then (a histogram of every pixel); a window made before stays."""
    path = make_dicom("windowed.dcm", _ramp(), bits_stored=12, WindowCenter=1000, WindowWidth=800)
    image = open_image(path)
    image.render()
    values = image._values
    image.release_pixels()
    assert "_counts" not in vars(values)
    assert image.windows == [image.default_window] and image.default_window.center == 1000
    asked = open_image(path)
    listed = asked.windows
    asked.release_pixels()
    assert asked.windows == listed and len(listed) == 2
