"""gdcm decodes JPEG Lossless in a default install (the other decoder, pylibjpeg-libjpeg, is the GPL-3.0 extra), and
aborts the whole process (SIGABRT, a C++ exception nothing catches, no message) on a codestream whose marker segments
are damaged, or crashes on some header values out of range (found by mutating pydicom's JPEG Lossless file). Such a
frame is refused in one line before gdcm sees it; the intact file still opens through gdcm."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from conftest import assert_one_line_error
from pydicom import dcmread
from pydicom.encaps import generate_frames
from test_io_real_world import ROOT, without_distributions

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
LOSSLESS = TEST_FILES / "SC_rgb_jpeg_gdcm.dcm"  # JPEG Lossless SV1, which only gdcm decodes without the extra
# Every JPEG (ISO 10918) file of pydicom's corpus, whichever decoder reads it.
JPEG_FILES = ["JPEG-lossy.dcm", "JPGExtended.dcm", "SC_jpeg_no_color_transform.dcm",
              "SC_jpeg_no_color_transform_2.dcm", "SC_rgb_dcmtk_+eb+cr.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm",
              "SC_rgb_dcmtk_+eb+cy+n2.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm",
              "SC_rgb_dcmtk_+eb+cy+s4.dcm", "SC_rgb_jpeg.dcm", "SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_jpeg_dcmtk.dcm",
              "SC_rgb_jpeg_gdcm.dcm", "SC_rgb_jpeg_lossy_gdcm.dcm", "SC_rgb_small_odd_jpeg.dcm",
              "examples_ybr_color.dcm"]


def without_libjpeg(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    """radcam-cli in a child process whose environment lacks pylibjpeg-libjpeg: gdcm alone decodes JPEG Lossless."""
    farm = without_distributions(tmp_path, "libjpeg", "pylibjpeg_libjpeg")
    return subprocess.run([sys.executable, "-S", "-m", "viewer.cli.main", *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{farm}"})


@pytest.mark.parametrize("name", JPEG_FILES)
def test_intact_jpeg_codestreams_pass(name):
    from viewer.io.guards import jpeg_header_problem

    ds = dcmread(TEST_FILES / name)
    frame = next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames") or 1)))
    assert jpeg_header_problem(frame) is None


@pytest.mark.parametrize("cut, words", [(2, "byte 2 is 0xEE where a marker should be"),
                                        (38, "bytes 37-38 are 0xFF00 where a marker should be")])
def test_a_damaged_jpeg_lossless_is_one_line_not_an_abort(tmp_path, cut, words):
    data = LOSSLESS.read_bytes()
    start = data.rfind(b"\xff\xd8") + cut  # one byte deleted from the codestream's header
    (tmp_path / "cut.dcm").write_bytes(data[:start] + data[start + 1:])
    done = without_libjpeg(tmp_path, "view", str(tmp_path / "cut.dcm"), "--out", str(tmp_path / "x.png"))
    assert done.returncode != -6, "gdcm aborted the process"
    assert_one_line_error(done.returncode, done.stderr)
    assert f"cut.dcm: frame 0 is a damaged JPEG codestream: {words}" in done.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("at, value, words", [
    (22, 33, "its start of frame declares 33-bit samples (JPEG allows 2 to 16)"),  # gdcm: SIGSEGV
    (17, 41, "its Adobe segment names colour transform 41 (0, 1 or 2 exist)"),  # gdcm: SIGABRT
])
def test_a_jpeg_lossless_header_value_that_crashed_gdcm_is_one_line(tmp_path, at, value, words):
    data = bytearray(LOSSLESS.read_bytes())
    data[data.rfind(b"\xff\xd8") + at] = value  # one byte of the codestream's header changed
    (tmp_path / "odd.dcm").write_bytes(bytes(data))
    done = without_libjpeg(tmp_path, "view", str(tmp_path / "odd.dcm"), "--out", str(tmp_path / "x.png"))
    assert done.returncode >= 0, f"gdcm ended the process with signal {-done.returncode}"
    assert_one_line_error(done.returncode, done.stderr)
    assert f"odd.dcm: frame 0 is a damaged JPEG codestream: {words}" in done.stderr


def test_the_intact_file_still_opens_through_gdcm(tmp_path):
    done = without_libjpeg(tmp_path, "view", str(LOSSLESS), "--out", str(tmp_path / "x.png"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x.png").is_file()
