"""A Rescale Slope or Intercept that is empty, not a number, or NaN/infinite, or a slope of 0 (written so by some
toolkits, or damaged): pydicom multiplies by it, which either fails with Python's words (an empty value, text) or makes
every modality value NaN, infinite or the same, a black, white or flat image without a word. The bad value is replaced
by its identity value (slope 1, intercept 0) with a note, as a damaged Modality LUT or window is (issue 13, findings 2,
8 and 9)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from viewer.io import open_image

PIXELS = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
SLOPE, INTERCEPT = b"DS\x02\x002 ", b"DS\x04\x00-99 "  # as write_dicom writes RescaleSlope=2, RescaleIntercept=-99


def written(make_dicom, tmp_path, old: bytes, new: bytes):
    """The file with one value's bytes replaced (pydicom will not write these values)."""
    data = make_dicom("ok.dcm", PIXELS, bits_stored=12, RescaleSlope="2", RescaleIntercept="-99").read_bytes()
    assert data.count(old) == 1
    (tmp_path / "bad.dcm").write_bytes(data.replace(old, new))
    return tmp_path / "bad.dcm"


@pytest.mark.parametrize("old, new, slope, intercept, named", [
    (SLOPE, b"DS\x04\x00NaN ", 1, -99, "Rescale Slope (0028,1053) is 'NaN', not a finite number: using 1"),
    (SLOPE, b"DS\x04\x00inf ", 1, -99, "Rescale Slope (0028,1053) is 'inf', not a finite number: using 1"),
    (SLOPE, b"DS\x04\x00abc ", 1, -99, "Rescale Slope (0028,1053) is 'abc', not a finite number: using 1"),
    (SLOPE, b"DS\x00\x00", 1, -99, "Rescale Slope (0028,1053) is empty: using 1"),
    (SLOPE, b"DS\x02\x000 ", 1, -99, "Rescale Slope (0028,1053) is '0', which makes every pixel alike: using 1"),
    (INTERCEPT, b"DS\x04\x00inf ", 2, 0, "Rescale Intercept (0028,1052) is 'inf', not a finite number: using 0"),
    (INTERCEPT, b"DS\x04\x00-inf", 2, 0, "Rescale Intercept (0028,1052) is '-inf', not a finite number: using 0"),
    (INTERCEPT, b"DS\x00\x00", 2, 0, "Rescale Intercept (0028,1052) is empty: using 0"),
])
def test_a_bad_rescale_value_is_replaced_by_its_identity_with_a_note(make_dicom, tmp_path, capsys, old, new, slope,
                                                                     intercept, named):
    path = written(make_dicom, tmp_path, old, new)
    image = open_image(path)
    np.testing.assert_array_equal(image.modality, PIXELS.astype(np.float32) * slope + intercept)
    assert named in image.metadata["warnings"], image.metadata["warnings"]
    shown = image.render()
    assert shown.min() == 0 and shown.max() == 255  # not the all-black or all-white image of a NaN/inf rescale
    code, out, err = run_cli(capsys, "info", path)
    assert code == 0, err
    assert named in json.loads(out)["warnings"]


def test_a_good_rescale_is_applied_without_a_note(make_dicom):
    image = open_image(make_dicom("ok.dcm", PIXELS, bits_stored=12, RescaleSlope="2", RescaleIntercept="-99"))
    np.testing.assert_array_equal(image.modality, PIXELS.astype(np.float32) * 2 - 99)
    assert not any("Rescale" in note for note in image.metadata["warnings"])
