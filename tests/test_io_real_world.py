"""Issue 13, files from real archives: a damaged Modality LUT (finding 2), a JPEG 2000 codestream whose sign disagrees
with its header (4), 12-bit JPEG Extended and its optional decoder (5), every decoder plugin tried (6), refusals in
words (8), and NaN/infinite windows in a file (9, the file side). Each case is generated here with pydicom."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import assert_one_line_error, run_cli
from pydicom import Dataset, dcmread
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import (
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from viewer.errors import StudyError
from viewer.io import open_image
from viewer.io.dicom import plugin_order

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
ROOT = Path(__file__).resolve().parents[1]
RAMP = (np.arange(32 * 32).reshape(32, 32) % 1000).astype(np.uint16)
LIBJPEG = "pylibjpeg" in get_decoder(JPEGExtended12Bit).available_plugins


def strict_json(text: str):
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


# Finding 2: a Modality LUT Sequence with one empty item (written by a common commercial toolkit).

def empty_item() -> Dataset:
    return Dataset()


def item_with_empty_values() -> Dataset:
    item = Dataset()
    item.LUTDescriptor = None
    item.LUTData = None
    item["LUTDescriptor"].VR, item["LUTData"].VR = "US", "OW"
    return item


def item_with_short_data() -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [1000, 0, 16]
    item.LUTData = list(range(500))  # half the entries its descriptor declares
    item["LUTDescriptor"].VR, item["LUTData"].VR = "US", "US"
    return item


@pytest.mark.parametrize("item", [empty_item, item_with_empty_values, item_with_short_data])
@pytest.mark.parametrize("rescale, fallback", [({"RescaleSlope": 2, "RescaleIntercept": -100},
                                                 "rescale slope/intercept"), ({}, "identity")])
def test_damaged_modality_lut_falls_back_with_a_note(make_dicom, capsys, item, rescale, fallback):
    path = make_dicom("mlut.dcm", RAMP, ModalityLUTSequence=[item()], **rescale)
    image = open_image(path)
    slope, intercept = rescale.get("RescaleSlope", 1), rescale.get("RescaleIntercept", 0)
    np.testing.assert_array_equal(image.modality, RAMP.astype(np.float32) * slope + intercept)
    assert any(note.startswith("Modality LUT ignored") and note.endswith(f"using {fallback}")
               for note in image.metadata["warnings"]), image.metadata["warnings"]
    code, out, err = run_cli(capsys, "info", path)
    assert code == 0, err
    assert any("Modality LUT ignored" in note for note in strict_json(out)["warnings"])


def test_a_good_modality_lut_is_still_applied(make_dicom):
    item = Dataset()
    item.LUTDescriptor = [1000, 0, 16]
    item.LUTData = list(range(0, 3000, 3))
    item["LUTDescriptor"].VR = "US"
    item["LUTData"].VR = "US"
    image = open_image(make_dicom("mlut.dcm", RAMP, ModalityLUTSequence=[item]))
    np.testing.assert_array_equal(image.modality, RAMP * 3)
    assert not any("Modality LUT" in note for note in image.metadata["warnings"])


# Finding 4: a JPEG 2000 codestream and Pixel Representation that disagree about the sign.

CT = (np.arange(64 * 64).reshape(64, 64) % 3897 - 2000).astype(np.int16)  # -2000 (outside the scan) .. 1896 HU


@pytest.fixture
def signed_j2k_unsigned_header(make_dicom, tmp_path):
    """A signed 13-bit codestream under Pixel Representation 0, as the issue found it."""
    ds = dcmread(make_dicom("ct.dcm", CT, bits_stored=13, Modality="CT"))
    ds.compress(JPEG2000Lossless, CT, encoding_plugin="pylibjpeg")
    ds.PixelRepresentation = 0
    ds.save_as(tmp_path / "mismatch.dcm")
    return tmp_path / "mismatch.dcm"


def test_signed_codestream_under_unsigned_header_is_read_as_signed(signed_j2k_unsigned_header):
    assert pixel_array(signed_j2k_unsigned_header).min() >= 0  # pydicom follows the header: noise
    image = open_image(signed_j2k_unsigned_header)
    np.testing.assert_array_equal(image.modality, CT)
    assert ("JPEG 2000 codestream is signed but Pixel Representation is 0: read as signed, as the codestream says"
            in image.metadata["warnings"])


@pytest.mark.parametrize("plugin", ["pylibjpeg", "pillow"])
def test_every_jpeg_2000_plugin_reads_the_mismatch_alike(signed_j2k_unsigned_header, monkeypatch, plugin):
    # Pillow level-shifts signed data where pylibjpeg keeps the low bits: the fix must hold for both.
    monkeypatch.setitem(__import__("viewer.io.dicom", fromlist=["PLUGINS"]).PLUGINS, JPEG2000Lossless, (plugin,))
    np.testing.assert_array_equal(open_image(signed_j2k_unsigned_header).modality, CT)


def test_unsigned_codestream_under_signed_header_stays_signed_as_pydicom_reads_it():
    path = TEST_FILES / "J2K_pixelrep_mismatch.dcm"
    image = open_image(path)
    assert image.modality.min() == -2000
    np.testing.assert_array_equal(image.modality, pixel_array(path))
    assert any("codestream is unsigned but Pixel Representation is 1" in n for n in image.metadata["warnings"])


# Finding 5: 12-bit JPEG Extended, decoded by the optional extra radcam[jpeg-extended] (pylibjpeg-libjpeg).

@pytest.mark.skipif(not LIBJPEG, reason="radcam[jpeg-extended] (pylibjpeg-libjpeg) is not installed")
def test_12_bit_jpeg_extended_decodes_with_the_extra():
    path = TEST_FILES / "JPGExtended.dcm"
    image = open_image(path)
    assert image.metadata["bits_stored"] == 12
    np.testing.assert_array_equal(image.modality, pixel_array(path))


def without_distributions(tmp_path: Path, *names: str) -> Path:
    """A copy (by links) of this environment's site-packages without the named top-level modules and their metadata:
    a real environment in which those packages are simply not installed."""
    site = Path(pydicom.__file__).parents[1]  # where this environment's packages are
    farm = tmp_path / "site-packages"
    farm.mkdir()
    for entry in site.iterdir():
        stem = entry.name.split("-")[0].split(".")[0].lower().lstrip("_")
        if stem not in names:
            (farm / entry.name).symlink_to(entry)
    return farm


def test_without_the_extra_the_refusal_names_it(tmp_path):
    farm = without_distributions(tmp_path, "libjpeg", "pylibjpeg_libjpeg")
    # -S: no site-packages (nor the editable install's hook); the checkout and the farm are the whole path.
    done = subprocess.run([sys.executable, "-S", "-m", "viewer.cli.main", "view", str(TEST_FILES / "JPGExtended.dcm"),
                           "--out", str(tmp_path / "x.png")], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{farm}"})
    assert_one_line_error(done.returncode, done.stderr)
    assert ("12-bit JPEG Extended needs the optional decoder pylibjpeg-libjpeg (GPL-3.0, not installed by default): "
            "pip install 'radcam[jpeg-extended]'") in done.stderr
    assert not (tmp_path / "x.png").exists()


# Finding 6: every available decoder, in pydicom's order, before a refusal.

@pytest.mark.parametrize("syntax", [JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSLossless, JPEG2000, JPEG2000Lossless,
                                    JPEGLosslessSV1, RLELossless])
def test_plugin_order_prefers_then_falls_back_to_every_available_plugin(syntax):
    available = set(get_decoder(syntax).available_plugins)
    order = plugin_order(syntax)
    assert len(order) == len(set(order))
    # gdcm aborts the process on damaged JPEG and JPEG 2000 (below): only where nothing else decodes the syntax.
    assert set(order) == (available - {"gdcm"} if available - {"gdcm"} else available)
    if syntax == JPEGBaseline8Bit:
        assert order[0] == "pillow"


def test_a_damaged_jpeg_that_aborts_gdcm_is_one_error_line(tmp_path):
    # Found while adding the fallback: 13 bytes cut from the quantisation table of a baseline JPEG; gdcm throws a C++
    # exception nothing catches and the whole process aborts (signal 6), so it must never be handed this file.
    data = (TEST_FILES / "SC_rgb_jpeg_dcmtk.dcm").read_bytes()
    start = data.rfind(b"\xff\xd8") + 44
    (tmp_path / "cut.dcm").write_bytes(data[:start] + data[start + 13:])
    done = subprocess.run([sys.executable, "-m", "viewer.cli.main", "view", str(tmp_path / "cut.dcm"), "--out",
                           str(tmp_path / "x.png")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert_one_line_error(done.returncode, done.stderr)
    assert "cannot decode frame 0 (JPEG Baseline (Process 1))" in done.stderr


def test_a_codestream_of_zero_rows_never_reaches_a_decoder(tmp_path):
    # Found while adding the fallback: a JPEG-LS frame whose SOF says 0 rows (the size then comes from later markers)
    # made libjpeg, tried after CharLS, ask for 24 GB. Run under a 4 GiB address-space cap, so a regression fails here
    # instead of exhausting the machine.
    data = (TEST_FILES / "JPEGLSNearLossless_16.dcm").read_bytes()
    sof = data.index(b"\xff\xf7\x00\x0b\x10\x00\x32\x00\x0a")
    (tmp_path / "zero.dcm").write_bytes(data[:sof + 5] + b"\x00\x00" + data[sof + 7:])
    cap = "import resource; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
    done = subprocess.run([sys.executable, "-c", cap + "import sys; from viewer.cli.main import main; "
                           "sys.exit(main(sys.argv[1:]))", "view", str(tmp_path / "zero.dcm"), "--out",
                           str(tmp_path / "x.png")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert_one_line_error(done.returncode, done.stderr)
    assert "frame 0 is a JPEG-LS codestream of 0 x 10 pixels, not the 50 x 10 of its header" in done.stderr


def test_jpeg_baseline_that_pillow_alone_cannot_read_from_the_file_opens():
    # pydicom's SC_rgb_jpeg.dcm: an implicit VR data set under an explicit VR syntax, which Dataset.pixel_array reads.
    path = TEST_FILES / "SC_rgb_jpeg.dcm"
    image = open_image(path)
    np.testing.assert_array_equal(image.render(), dcmread(path).pixel_array)


# Finding 8: refusals in words, not Python's.

@pytest.mark.parametrize("drop, named", [("SamplesPerPixel", r"Samples per Pixel \(0028,0002\)"),
                                         ("BitsAllocated", r"Bits Allocated \(0028,0100\)"),
                                         ("PhotometricInterpretation", r"Photometric Interpretation \(0028,0004\)")])
def test_a_missing_pixel_attribute_is_named(make_dicom, tmp_path, capsys, drop, named):
    ds = dcmread(make_dicom("x.dcm", RAMP))
    delattr(ds, drop)
    ds.save_as(tmp_path / "missing.dcm")
    with pytest.raises(StudyError, match=rf"missing\.dcm: the image pixel module lacks {named}, needed to read"):
        open_image(tmp_path / "missing.dcm")
    code, out, err = run_cli(capsys, "info", tmp_path / "missing.dcm")
    assert_one_line_error(code, err)
    assert "object has no attribute" not in err


def test_a_value_that_is_not_a_number_is_named(make_dicom, tmp_path, capsys):
    # pydicom's badVR.dcm has Number of Frames '1A'; written here byte by byte (pydicom will not write it).
    data = make_dicom("x.dcm", RAMP, NumberOfFrames=11).read_bytes()
    frames = b"\x28\x00\x08\x00IS\x02\x0011"
    assert data.count(frames) == 1
    (tmp_path / "bad.dcm").write_bytes(data.replace(frames, b"\x28\x00\x08\x00IS\x02\x001A"))
    with pytest.raises(StudyError, match=r"bad\.dcm: Number of Frames \(0028,0008\) is '1A', not a whole number$"):
        open_image(tmp_path / "bad.dcm")
    code, out, err = run_cli(capsys, "view", tmp_path / "bad.dcm", "--out", tmp_path / "x.png")
    assert_one_line_error(code, err)
    assert "invalid literal" not in err


def test_an_unknown_transfer_syntax_is_printed_once(make_dicom, tmp_path):
    ds = dcmread(make_dicom("x.dcm", RAMP))
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5"
    ds.save_as(tmp_path / "odd.dcm")
    with pytest.raises(StudyError) as info:
        open_image(tmp_path / "odd.dcm")
    assert str(info.value).count("1.2.3.4.5") == 1, info.value
    assert str(info.value).endswith("unsupported transfer syntax 1.2.3.4.5, which is not one DICOM defines: no "
                                    "installed plugin can decode it")


# Finding 9, the file side: a NaN or infinite window is skipped with a note; `info` prints strict JSON.

@pytest.mark.parametrize("centers, widths, kept", [("NaN", "400", 0), ("40", "inf", 0),
                                                  (["nan", "40"], ["400", "400"], 1),
                                                  (["-inf", "40"], ["400", "NaN"], 0)])
def test_non_finite_file_windows_are_skipped_and_info_is_strict_json(make_dicom, capsys, centers, widths, kept):
    path = make_dicom("w.dcm", RAMP, WindowCenter=centers, WindowWidth=widths)
    image = open_image(path)
    assert len(image.windows) == kept + 1
    assert image.windows[-1].explanation == "auto"
    if not kept:
        assert image.default_window.explanation == "auto"
    assert image.render().max() > 0  # not the black image a NaN window gave
    assert any("must be finite numbers" in note for note in image.metadata["warnings"])
    code, out, err = run_cli(capsys, "info", path)
    assert code == 0, err
    info = strict_json(out)
    assert all(np.isfinite([w["center"], w["width"]]).all() for w in info["windows"])


def test_float_pixels_at_the_ends_of_float64_give_a_finite_auto_window(make_dicom, capsys):
    pixels = np.array([[-1.7e308, 0.0], [1.0, 1.7e308]], np.float64)
    path = make_dicom("f.dcm", None)
    ds = dcmread(path)
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated = 2, 2, 1, 64
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.DoubleFloatPixelData = pixels.tobytes()
    ds.save_as(path)
    code, out, err = run_cli(capsys, "info", path)
    assert code == 0, err
    assert np.isfinite(strict_json(out)["default_window"]["width"])


def test_info_prints_no_nan_from_a_damaged_pixel_spacing(make_dicom, capsys):
    path = make_dicom("s.dcm", RAMP, PixelSpacing=["nan", "0.2"])
    code, out, err = run_cli(capsys, "info", path)
    assert code == 0, err
    assert strict_json(out)["pixel_spacing"] is None
