"""A Number of Frames that is a fraction or negative is refused in words (issue 13, finding 8), not as "pixel data
truncated ... needs 15360.0" (2.5 frames) or "frame 0 out of range: the file has -1 frame(s) (0..-2)"."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from viewer.errors import StudyError
from viewer.io import open_image

PIXELS = (np.arange(16 * 16).reshape(16, 16) * 7).astype(np.uint16)


@pytest.mark.parametrize("frames, words", [("2.5", "Number of Frames (0028,0008) is '2.5', not a whole number"),
                                           ("-1", "Number of Frames (0028,0008) is '-1', not a whole number of at "
                                                  "least 1")])
def test_a_number_of_frames_that_is_no_count_is_named(make_dicom, tmp_path, capsys, frames, words):
    path = make_dicom("f.dcm", PIXELS, NumberOfFrames=frames)
    with pytest.raises(StudyError) as info:
        open_image(path)
    assert str(info.value) == f"{path}: {words}"
    code, out, err = run_cli(capsys, "view", path, "--out", tmp_path / "x.png")
    assert_one_line_error(code, err)
    assert words in err


@pytest.mark.parametrize("frames", ["1", "1.0", " 1"])
def test_a_whole_number_of_frames_opens(make_dicom, frames):
    image = open_image(make_dicom("f.dcm", PIXELS, NumberOfFrames=frames))
    assert image.frames == 1
    np.testing.assert_array_equal(image.modality, PIXELS)
