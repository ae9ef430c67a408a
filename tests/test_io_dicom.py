"""viewer.io on generated DICOM files: modality values, windows (checked against the DICOM formulas), errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import write_dicom
from pydicom import Dataset, dcmread
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence

from viewer.errors import NoImageError, StudyError
from viewer.io import Window, open_image

RAMP = np.array([[50, 75, 76, 90, 100, 124, 125, 126, 150]], dtype=np.uint16)


def linear(x, c, w):  # PS3.3 C.11.2.1.2.1
    x = x.astype(np.float64)
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
    return np.rint(np.where(x <= c - 0.5 - (w - 1) / 2, 0, np.where(x > c - 0.5 + (w - 1) / 2, 255, y)))


def linear_exact(x, c, w):  # PS3.3 C.11.2.1.3.2
    x = x.astype(np.float64)
    y = ((x - c) / w + 0.5) * 255
    return np.rint(np.where(x <= c - w / 2, 0, np.where(x > c + w / 2, 255, y)))


def sigmoid(x, c, w):  # PS3.3 C.11.2.1.3.1
    return np.rint(255 / (1 + np.exp(-4 * (x.astype(np.float64) - c) / w)))


def test_signed_16_bit_with_rescale_gives_exact_modality_values(make_dicom):
    stored = np.array([[-32768, -1000, 0], [1, 1000, 32767]], dtype=np.int16)
    image = open_image(make_dicom("ct.dcm", stored, RescaleSlope=2.5, RescaleIntercept=-100))
    assert image.modality.dtype == np.float32
    assert np.array_equal(image.modality, (stored.astype(np.float64) * 2.5 - 100).astype(np.float32))
    assert image.metadata["bits_stored"] == 16 and not image.is_color


@pytest.mark.parametrize("function, formula", [("LINEAR", linear), ("LINEAR_EXACT", linear_exact),
                                               ("SIGMOID", sigmoid)])
def test_voi_lut_functions_follow_the_standard(make_dicom, function, formula):
    image = open_image(make_dicom("w.dcm", RAMP, WindowCenter=100, WindowWidth=50, VOILUTFunction=function))
    assert image.default_window == Window(100.0, 50.0, "window 1", function)
    assert np.array_equal(image.render(), formula(RAMP, 100, 50))
    # The same function through an explicit window, on rescaled values.
    explicit = Window(center=20, width=7, explanation="test", function=function)
    assert np.array_equal(image.render(explicit), formula(RAMP, 20, 7))


def test_linear_window_values(make_dicom):
    image = open_image(make_dicom("w.dcm", RAMP, WindowCenter=100, WindowWidth=50))
    # x <= 75 -> 0, x > 124 -> 255, 100 -> ((100 - 99.5) / 49 + 0.5) * 255 = 130.1
    assert image.render()[0].tolist() == [0, 0, 5, 78, 130, 255, 255, 255, 255]


def test_multiple_windows_listed_in_file_order_with_explanations(make_dicom):
    image = open_image(make_dicom("w.dcm", RAMP * 10, WindowCenter=[40, 400], WindowWidth=[400, 2000],
                                  WindowCenterWidthExplanation=["SOFT", "BONE"]))
    assert [w.explanation for w in image.windows] == ["SOFT", "BONE", "auto"]
    assert image.default_window == Window(40.0, 400.0, "SOFT")
    assert image.windows[1] == Window(400.0, 2000.0, "BONE")
    assert np.array_equal(image.render(), linear(RAMP * 10, 40, 400))
    assert np.array_equal(image.render(image.windows[1]), linear(RAMP * 10, 400, 2000))
    assert [w.as_dict()["explanation"] for w in image.windows] == ["SOFT", "BONE", "auto"]


def test_window_validation():
    with pytest.raises(ValueError, match="LINEAR needs >= 1"):
        Window(10, 0.5, "x")
    with pytest.raises(ValueError, match="VOI LUT function"):
        Window(10, 5, "x", "CUBIC")
    assert Window(10, 0.5, "x", "SIGMOID").as_dict() == {"center": 10, "width": 0.5, "explanation": "x",
                                                         "function": "SIGMOID"}


def test_invalid_window_is_ignored_with_a_warning(make_dicom):
    image = open_image(make_dicom("w.dcm", RAMP, WindowCenter=[100, 50], WindowWidth=[0, 20]))
    assert [w.width for w in image.windows[:-1]] == [20.0]
    assert any("width 0" in w for w in image.metadata["warnings"])


def test_monochrome1_is_inverted(make_dicom):
    image = open_image(make_dicom("m1.dcm", RAMP, photometric="MONOCHROME1", WindowCenter=100, WindowWidth=50))
    assert image.invert
    assert np.array_equal(image.render(), 255 - linear(RAMP, 100, 50))
    assert np.array_equal(image.render(invert=False), linear(RAMP, 100, 50))


def test_presentation_lut_shape_inverse_is_inverted(make_dicom):
    image = open_image(make_dicom("inv.dcm", RAMP, PresentationLUTShape="INVERSE", WindowCenter=100, WindowWidth=50))
    assert image.invert and np.array_equal(image.render(), 255 - linear(RAMP, 100, 50))
    identity = open_image(make_dicom("id.dcm", RAMP, PresentationLUTShape="IDENTITY"))
    assert not identity.invert


def test_multiframe_each_frame_reachable(make_dicom):
    frames = np.stack([np.full((4, 5), 100 * i, dtype=np.uint16) for i in range(3)])
    path = make_dicom("mf.dcm", frames)
    for i in range(3):
        image = open_image(path, frame=i)
        assert (image.frame, image.frames) == (i, 3)
        assert np.all(image.modality == 100 * i)
    with pytest.raises(StudyError, match=r"mf\.dcm: frame 3 out of range"):
        open_image(path, frame=3)


def test_enhanced_per_frame_rescale_is_used(make_dicom):
    frames = np.stack([np.full((2, 2), 10, dtype=np.uint16)] * 2)

    def transform(slope, intercept):
        group = Dataset()
        item = Dataset()
        item.RescaleSlope, item.RescaleIntercept, item.RescaleType = slope, intercept, "US"
        group.PixelValueTransformationSequence = Sequence([item])
        return group

    path = make_dicom("enh.dcm", frames, PerFrameFunctionalGroupsSequence=Sequence([transform(1, 0), transform(3, -5)]))
    assert np.all(open_image(path, frame=0).modality == 10)
    assert np.all(open_image(path, frame=1).modality == 25)


def test_pixel_padding_is_excluded_from_the_auto_window(make_dicom):
    body = np.arange(64 * 64, dtype=np.int16).reshape(64, 64) % 1000
    padded = np.full((80, 80), -2000, dtype=np.int16)
    padded[8:72, 8:72] = body
    plain = open_image(make_dicom("plain.dcm", body)).default_window
    with_padding = open_image(make_dicom("pad.dcm", padded, PixelPaddingValue=-2000)).default_window
    unmarked = open_image(make_dicom("unmarked.dcm", padded)).default_window
    assert with_padding == plain and with_padding.explanation == "auto"
    assert unmarked != plain  # the padding would otherwise pull the window down


def test_pixel_padding_range_is_excluded(make_dicom):
    body = (np.arange(50 * 50, dtype=np.int16).reshape(50, 50) % 500) + 100
    padded = np.zeros((70, 70), dtype=np.int16)
    padded[:, :10] = -3000
    padded[:, 10:20] = -2500
    padded[10:60, 20:70] = body
    padded[:10, 20:] = -2700
    padded[60:, 20:] = -2900
    plain = open_image(make_dicom("plain.dcm", body)).default_window
    image = open_image(make_dicom("pad.dcm", padded, PixelPaddingValue=-3000, PixelPaddingRangeLimit=-2500))
    assert image.default_window == plain


def test_no_window_gives_the_percentile_auto_window(make_dicom):
    stored = np.random.default_rng(1).integers(0, 4096, (32, 32), dtype=np.uint16)
    image = open_image(make_dicom("auto.dcm", stored, bits_stored=12))
    low, high = np.percentile(stored, [0.5, 99.5])
    assert image.windows == [image.default_window]
    window = image.default_window
    assert (window.explanation, window.function) == ("auto", "LINEAR")
    # A LINEAR window whose ends are low and high: low maps to 0, high to 255.
    assert window.center - 0.5 - (window.width - 1) / 2 == pytest.approx(low)
    assert window.center - 0.5 + (window.width - 1) / 2 == pytest.approx(high)
    assert np.array_equal(image.render(), linear(stored, window.center, window.width))


def test_render_does_not_decode_again(make_dicom, monkeypatch):
    image = open_image(make_dicom("r.dcm", RAMP, WindowCenter=100, WindowWidth=50))
    monkeypatch.setattr("viewer.io.dicom.pixel_array", lambda *a, **k: pytest.fail("decoded again"))
    image.render(Window(90, 20, "x"))


def test_rgb_palette_ybr_and_16_bit_colour(make_dicom):
    rgb = np.random.default_rng(2).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    image = open_image(make_dicom("rgb.dcm", rgb, photometric="RGB"))
    assert image.is_color and np.array_equal(image.render(), rgb) and image.modality.dtype == np.uint8

    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    back = open_image(make_dicom("ybr.dcm", ybr, photometric="YBR_FULL")).render()
    assert np.abs(back.astype(int) - rgb).max() <= 2

    deep = rgb.astype(np.uint16) * 257
    assert np.array_equal(open_image(make_dicom("rgb16.dcm", deep, photometric="RGB")).render(), rgb)

    index = np.arange(12, dtype=np.uint8).reshape(3, 4)
    lut = {c: (np.arange(256, dtype=np.uint16) * k % 256) * 257 for c, k in zip("RGB", (1, 3, 7), strict=True)}
    palette = make_dicom(
        "pal.dcm", index, photometric="PALETTE COLOR",
        RedPaletteColorLookupTableDescriptor=[256, 0, 16], GreenPaletteColorLookupTableDescriptor=[256, 0, 16],
        BluePaletteColorLookupTableDescriptor=[256, 0, 16],
        RedPaletteColorLookupTableData=lut["R"].tobytes(), GreenPaletteColorLookupTableData=lut["G"].tobytes(),
        BluePaletteColorLookupTableData=lut["B"].tobytes())
    shown = open_image(palette).render()
    expected = np.stack([lut[c][index] // 257 for c in "RGB"], axis=-1)
    assert shown.shape == (3, 4, 3) and np.array_equal(shown, expected)


def test_no_pixel_data_is_no_image(make_dicom):
    path = make_dicom("sr.dcm", None, Modality="SR", SOPClassUID="1.2.840.10008.5.1.4.1.1.88.11")
    with pytest.raises(NoImageError, match=r"sr\.dcm: Basic Text SR Storage \(SR\): no pixel data"):
        open_image(path)


def test_missing_directory_and_empty(tmp_path):
    with pytest.raises(StudyError, match=r"nope\.dcm: no such file"):
        open_image(tmp_path / "nope.dcm")
    with pytest.raises(StudyError, match="is a directory"):
        open_image(tmp_path)
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(StudyError, match=r"empty\.dcm: empty file \(0 bytes\)"):
        open_image(tmp_path / "empty.dcm")


def test_text_file_is_not_dicom(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("this is not a DICOM file\n" * 20)
    with pytest.raises(StudyError, match=r"notes\.dcm: not a DICOM file"):
        open_image(path)


@pytest.mark.parametrize("side, have", [(64, 4192), (300, 176000)])  # read at once / deferred (> 64 KB)
def test_truncated_file(make_dicom, side, have):
    path = make_dicom("cut.dcm", np.zeros((side, side), dtype=np.uint16))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 4000])
    needs = side * side * 2
    message = rf"cut\.dcm: pixel data truncated: {have} bytes, but .* needs {needs}"
    with pytest.raises(StudyError, match=message) as info:
        open_image(path)
    assert "\n" not in str(info.value)


def test_pixel_data_shorter_than_rows_times_columns(make_dicom):
    path = make_dicom("short.dcm", None, Rows=10, Columns=10, BitsAllocated=8, BitsStored=8, HighBit=7,
                      PixelRepresentation=0, SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2",
                      PixelData=bytes(50))
    with pytest.raises(StudyError, match=r"short\.dcm: pixel data truncated: 50 bytes, but .* needs 100"):
        open_image(path)


@pytest.mark.parametrize("uid, name", [("1.2.840.10008.1.2.4.110", "JPEG XL Lossless"),
                                       ("1.2.840.10008.1.2.4.112", "JPEG XL")])
def test_unsupported_transfer_syntax_is_named(make_dicom, uid, name):
    path = make_dicom("jxl.dcm", None, Rows=2, Columns=2, BitsAllocated=8, BitsStored=8, HighBit=7,
                      PixelRepresentation=0, SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2",
                      PixelData=encapsulate([b"\xff\x0a" + bytes(10)]))
    # pydicom 3.0 refuses to write a syntax it does not know, so the UID is swapped in the written file meta.
    path.write_bytes(_rewrite_syntax(path.read_bytes(), uid.encode().ljust(len(uid) + len(uid) % 2, b"\x00")))
    with pytest.raises(StudyError, match=rf"jxl\.dcm: unsupported transfer syntax {name} \({uid}\)"):
        open_image(path)


def _rewrite_syntax(data: bytes, new: bytes) -> bytes:
    """Replace the Transfer Syntax UID element (and fix the group length) in an explicit VR LE file meta."""
    tag = b"\x02\x00\x10\x00UI"
    at = data.index(tag)
    length = int.from_bytes(data[at + 6:at + 8], "little")
    grown = len(new) - length
    out = data[:at + 6] + len(new).to_bytes(2, "little") + new + data[at + 8 + length:]
    group = out.index(b"\x02\x00\x00\x00UL")
    value = int.from_bytes(out[group + 8:group + 12], "little") + grown
    return out[:group + 8] + value.to_bytes(4, "little") + out[group + 12:]


def test_a_raw_exception_never_escapes(make_dicom, monkeypatch):
    path = make_dicom("x.dcm", RAMP)

    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr("viewer.io.dicom.apply_modality_lut", broken)
    with pytest.raises(StudyError, match=r"x\.dcm: cannot read: KeyError: 'boom'") as info:
        open_image(path)
    assert isinstance(info.value.__cause__, KeyError)


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"])
def test_lossless_compressed_syntaxes_decode_exactly(tmp_path, syntax):
    """RLE, JPEG-LS and JPEG 2000 through the installed plugins, two frames, decoded frame by frame."""
    frames = np.random.default_rng(4).integers(0, 4096, (2, 64, 48), dtype=np.uint16)
    path = write_dicom(tmp_path / "plain.dcm", frames, bits_stored=12)
    ds = dcmread(path)
    ds.compress(syntax)
    ds.save_as(tmp_path / "packed.dcm")
    for i in range(2):
        image = open_image(tmp_path / "packed.dcm", frame=i)
        assert image.metadata["transfer_syntax"]["uid"] == syntax
        assert np.array_equal(image.modality, frames[i].astype(np.float32))


def test_render_of_a_2048_square_frame_takes_milliseconds(make_dicom):
    stored = np.random.default_rng(5).integers(0, 4096, (2048, 2048), dtype=np.uint16)
    image = open_image(make_dicom("big.dcm", stored, bits_stored=12, RescaleSlope=0.5, RescaleIntercept=-1024))
    assert image.modality.dtype == np.float32 and image.modality.shape == (2048, 2048)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        image.render(Window(0, 400, "x", "SIGMOID"))
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.1  # measured about 10 ms
