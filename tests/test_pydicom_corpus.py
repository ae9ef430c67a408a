"""Every file of pydicom's own test_files (issue 13, "The corpus"): it opens and its default render matches pydicom's
pixel pipeline (modality LUT, first window or VOI LUT, palette, MONOCHROME1) within 1 grey level, and `radcam-cli
view` writes that render; or it is refused, by the loader and by `view`, with one line naming the reason in REFUSED.

The 85 files ship with pydicom (no network; with the dicomdirtests/ folder, the issue's "86"); that folder is DICOMDIR
material, tested with DICOMDIR.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import assert_one_line_error, run_cli
from PIL import Image
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, apply_windowing, get_decoder
from pydicom.uid import JPEGExtended12Bit

from viewer.errors import StudyError
from viewer.io import open_image

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
FILES = sorted(p.name for p in TEST_FILES.iterdir() if p.is_file())
LIBJPEG = "pylibjpeg" in get_decoder(JPEGExtended12Bit).available_plugins
NOT_DICOM = "not a DICOM file or an image format Pillow can read"

# name -> the reason its one-line refusal must give (a regular expression), and why that is right.
REFUSED = {
    # Not images: other DICOM objects, or not DICOM at all.
    "ExplVR_BigEndNoMeta.dcm": "RT Ion Plan Storage \\(RTPLAN\\): no pixel data",
    "ExplVR_LitEndNoMeta.dcm": "RT Ion Plan Storage \\(RTPLAN\\): no pixel data",
    "UN_sequence.dcm": "DICOM dataset: no pixel data",
    "empty_charset_LEI.dcm": "DICOM dataset: no pixel data",
    "no_meta_group_length.dcm": "DICOM dataset: no pixel data",
    "priv_SQ.dcm": "DICOM dataset: no pixel data",
    "reportsi.dcm": "Basic Text SR Storage \\(SR\\): no pixel data",
    "reportsi_with_empty_number_tags.dcm": "Basic Text SR Storage \\(SR\\): no pixel data",
    "rtplan.dcm": "RT Plan Storage \\(RTPLAN\\): no pixel data",
    "rtplan_truncated.dcm": "RT Plan Storage \\(RTPLAN\\): no pixel data",
    "rtstruct.dcm": "RT Structure Set Storage \\(RTSTRUCT\\): no pixel data",
    "test-SR.dcm": "Comprehensive SR Storage \\(SR\\): no pixel data",
    "waveform_ecg.dcm": "12-lead ECG Waveform Storage \\(ECG\\): no pixel data",
    "README.txt": NOT_DICOM,
    "crayons.icc": NOT_DICOM,  # an ICC profile: starts with two zero bytes, like a DICOM file without preamble
    "rtplan.dump": NOT_DICOM,
    "rtstruct.dump": NOT_DICOM,
    "test1.json": NOT_DICOM,  # DICOM JSON: not a file format RadCAM opens
    "test_PN.json": NOT_DICOM,
    "zipMR.gz": NOT_DICOM,  # a gzipped DICOM file
    # Pixel data present, but pixels pydicom cannot make either.
    "no_meta.dcm": NOT_DICOM,  # a stray byte before the first element: pydicom reads one garbage tag
    "meta_missing_tsyntax.dcm": "DICOM dataset: pixel data without rows/columns",
    "nested_priv_SQ.dcm": "DICOM dataset: pixel data without rows/columns",
    "badVR.dcm": "Number of Frames \\(0028,0008\\) is '1A', not a whole number",
    "MR_truncated.dcm": "pixel data truncated: 8130 bytes, but rows x columns x frames needs 8192",
    # pydicom's README: four codestream bytes replaced with a sequence delimiter, "almost certainly not a valid JPEG".
    "JPEG2000-embedded-sequence-delimiter.dcm": "frame 0 is a JPEG 2000 codestream of 1024 x 3722445056 pixels, more "
                                                "than the 1024 x 256 of its header",
    # pydicom's README: a damaged NEMA file (JPGExtended.dcm is its "fixed version"); libjpeg: bad scan parameters.
    "JPEG-lossy.dcm": ("cannot decode frame 0 \\(JPEG Extended \\(Process 2 and 4\\)\\): .*scan start must be zero"
                       if LIBJPEG else "12-bit JPEG Extended needs the optional decoder pylibjpeg-libjpeg"),
}
if not LIBJPEG:  # radcam[jpeg-extended] not installed: the refusal names it
    REFUSED["JPGExtended.dcm"] = "12-bit JPEG Extended needs the optional decoder pylibjpeg-libjpeg .*" \
                                 "pip install 'radcam\\[jpeg-extended\\]'"
OPENED = [name for name in FILES if name not in REFUSED]


def test_the_corpus_is_the_one_described():
    assert len(FILES) == 85
    assert set(REFUSED) <= set(FILES)
    assert len(OPENED) == (58 if LIBJPEG else 57)


def reference(path: Path) -> np.ndarray:
    """Frame 0 as pydicom's own functions show it, as uint8; the window is the file's first, else its first VOI LUT.
    Files with neither get the viewer's automatic window, applied here by the standard's LINEAR formula."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames") or 1)
    arr = arr[0] if frames > 1 else arr
    photometric = ds.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        return _to_8bit(apply_color_lut(arr, ds), 0, 2**bits - 1)
    if ds.SamplesPerPixel > 1:  # pydicom converts YBR to RGB
        return _to_8bit(arr, 0, 2 ** int(ds.BitsStored) - 1)
    values = apply_modality_lut(arr, ds)
    if "WindowCenter" in ds:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        # pydicom's output range comes from the data set: the window's far ends give its two ends.
        low, high = apply_windowing(np.array([center - width - 10, center + width + 10], np.float64), ds)
        shown = _to_8bit(apply_windowing(values, ds), low, high)
    elif "VOILUTSequence" in ds:
        shown = _to_8bit(apply_voi(values, ds), 0, 2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    else:
        auto = open_image(path).default_window
        linear = ((values - (auto.center - 0.5)) / (auto.width - 1) + 0.5) * 255
        shown = np.clip(np.rint(linear), 0, 255).astype(np.uint8)
    inverse = photometric == "MONOCHROME1" or ds.get("PresentationLUTShape") == "INVERSE"
    return 255 - shown if inverse else shown


def _first(value) -> float:
    return float(value[0] if isinstance(value, pydicom.multival.MultiValue) else value)


def _to_8bit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip(np.rint((values.astype(np.float64) - low) * 255 / (high - low)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", OPENED)
def test_opens_and_matches_pydicom(name, tmp_path, capsys):
    path = TEST_FILES / name
    image = open_image(path)
    shown = image.render()
    expected = reference(path)
    assert shown.shape == expected.shape
    difference = np.abs(shown.astype(np.int16) - expected.astype(np.int16))
    assert difference.max() <= 1, f"{name}: {int((difference > 1).sum())} pixels differ by up to {difference.max()}"
    if image.kind == "dicom" and not image.is_color:  # modality values: exactly pydicom's
        ds = pydicom.dcmread(path)
        frame0 = ds.pixel_array[0] if int(ds.get("NumberOfFrames") or 1) > 1 else ds.pixel_array
        np.testing.assert_allclose(image.modality, apply_modality_lut(frame0, ds), rtol=1e-6)
    code, out, err = run_cli(capsys, "view", path, "--out", tmp_path / "x.png")
    assert code == 0, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), shown)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_one_line_naming_the_reason(name, tmp_path, capsys):
    path = TEST_FILES / name
    with pytest.raises(StudyError) as info:
        open_image(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert re.search(REFUSED[name], message), message
    code, out, err = run_cli(capsys, "view", path, "--out", tmp_path / "x.png")
    assert_one_line_error(code, err)
    assert re.search(REFUSED[name], err), err
    assert not (tmp_path / "x.png").exists()
