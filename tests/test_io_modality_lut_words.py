"""A damaged Modality LUT is ignored with a note that says in words what is wrong with it (issue 13, findings 2 and 8),
not Python's ("'Dataset' object has no attribute 'LUTDescriptor'", "'NoneType' object is not subscriptable")."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from pydicom import Dataset

from viewer.io import open_image

PIXELS = (np.arange(32 * 32).reshape(32, 32) % 1000).astype(np.uint16)


def item(descriptor=None, data=None) -> Dataset:
    made = Dataset()
    if descriptor is not None:
        made.LUTDescriptor = descriptor
        made["LUTDescriptor"].VR = "US"
    if data is not None:
        made.LUTData = data
        made["LUTData"].VR = "US"
    return made


@pytest.mark.parametrize("damaged, words", [
    (item(), "no LUT Descriptor (0028,3002)"),
    (item(data=list(range(1000))), "no LUT Descriptor (0028,3002)"),
    (item([1000, 0, 16]), "no LUT Data (0028,3006)"),
    (item([1000, 0], list(range(1000))), "LUT Descriptor (0028,3002) is '[1000, 0]', not three numbers"),
    (item([1000, 0, 12], list(range(1000))), "LUT Descriptor (0028,3002) gives 12 bits an entry, not 8 or 16"),
    (item([1000, 0, 16], list(range(500))), "LUT Data (0028,3006) holds 500 entries, but its descriptor declares 1000"),
])
def test_a_damaged_modality_lut_is_named_in_words(make_dicom, capsys, damaged, words):
    path = make_dicom("mlut.dcm", PIXELS, ModalityLUTSequence=[damaged])
    image = open_image(path)
    np.testing.assert_array_equal(image.modality, PIXELS.astype(np.float32))
    note = f"Modality LUT ignored ({words}): using identity"
    assert note in image.metadata["warnings"], image.metadata["warnings"]
    assert not any("Error" in n or "object" in n for n in image.metadata["warnings"])
    code, out, err = run_cli(capsys, "info", path)
    assert code == 0, err
    assert note in json.loads(out)["warnings"]
