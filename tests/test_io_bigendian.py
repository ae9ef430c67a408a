"""Explicit VR Big Endian files (issue 13, findings 1 and 3): generated here as the same image in both byte orders,
greyscale 8/12/16-bit, signed and unsigned, and palette colour; each must open, in the loader and `info`/`view`, and
show exactly what its little-endian copy shows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image
from pydicom import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from viewer.io import open_image

RAMP = np.arange(48 * 64).reshape(48, 64)


def write_endian(path, pixels: np.ndarray, bits_stored: int, big: bool, photometric: str = "MONOCHROME2",
                 **attributes):
    """A DICOM file in explicit VR big (or little) endian holding `pixels`: pydicom writes big endian from a data set
    built for it, words of OW values in the order given here."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian if big else ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "OT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(pixels.dtype.kind == "i")
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder(">" if big else "<")).tobytes()
    ds["PixelData"].VR = "OB" if pixels.dtype.itemsize == 1 else "OW"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def words(values: np.ndarray, big: bool) -> bytes:
    return values.astype(">u2" if big else "<u2").tobytes()


GREY = {
    "8-bit": ((RAMP % 256).astype(np.uint8), 8, {}),
    "12-bit": ((RAMP % 4096).astype(np.uint16), 12, {"RescaleSlope": 1, "RescaleIntercept": -1024}),
    "16-bit": ((RAMP * 20).astype(np.uint16), 16, {}),
    "signed 12-bit": ((RAMP % 4096 - 2048).astype(np.int16), 12, {"WindowCenter": 0, "WindowWidth": 2000}),
    "signed 16-bit": ((RAMP * 10 - 15000).astype(np.int16), 16, {"RescaleSlope": 2, "RescaleIntercept": 5}),
    "signed 8-bit": ((RAMP % 256 - 128).astype(np.int8), 8, {}),
    "MONOCHROME1 16-bit": ((RAMP * 7).astype(np.uint16), 16, {"PhotometricInterpretation": "MONOCHROME1",
                                                             "WindowCenter": 10000, "WindowWidth": 20000}),
}


@pytest.mark.parametrize("kind", GREY)
def test_big_endian_greyscale_opens_as_its_little_endian_copy(tmp_path, capsys, kind):
    pixels, bits, attributes = GREY[kind]
    big = open_image(write_endian(tmp_path / "be.dcm", pixels, bits, True, **attributes))
    little = open_image(write_endian(tmp_path / "le.dcm", pixels, bits, False, **attributes))
    assert big.metadata["transfer_syntax"]["uid"] == ExplicitVRBigEndian
    np.testing.assert_array_equal(big.modality, little.modality)
    assert big.windows == little.windows
    np.testing.assert_array_equal(big.render(), little.render())
    code, out, err = run_cli(capsys, "info", tmp_path / "be.dcm")
    assert code == 0, err
    assert json.loads(out)["bits_stored"] == bits
    code, out, err = run_cli(capsys, "view", tmp_path / "be.dcm", "--out", tmp_path / "be.png")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "be.png")), little.render())


def palette(path, big: bool, bits_stored: int = 8):
    """Palette colour: red rises with the index, green falls, blue is a step; 16-bit LUT entries (0..65280)."""
    index = (RAMP % 256).astype(np.uint8 if bits_stored == 8 else np.uint16)
    ramp = np.arange(256, dtype=np.uint32) * 256
    red, green, blue = ramp, ramp[::-1], np.where(np.arange(256) < 128, 0, 65535)
    lut = {}
    for colour, values in (("Red", red), ("Green", green), ("Blue", blue)):
        lut[f"{colour}PaletteColorLookupTableDescriptor"] = [256, 0, 16]
        lut[f"{colour}PaletteColorLookupTableData"] = words(values, big)
    path = write_endian(path, index, bits_stored, big, "PALETTE COLOR", **lut)
    return path, np.stack([red, green, blue], axis=-1)[index]


@pytest.mark.parametrize("bits_stored", [8, 16])
def test_big_endian_palette_colour_is_not_black(tmp_path, bits_stored):
    big_path, expected = palette(tmp_path / "be.dcm", True, bits_stored)
    little_path, _ = palette(tmp_path / "le.dcm", False, bits_stored)
    big, little = open_image(big_path), open_image(little_path)
    shown = big.render()
    np.testing.assert_array_equal(shown, little.render())
    np.testing.assert_array_equal(shown, np.rint(expected * 255 / 65535).astype(np.uint8))
    assert shown[..., 0].max() == 254  # 65280 of 65535


def test_big_endian_pixel_data_reaches_the_modality_values_in_native_order(tmp_path):
    pixels, bits, attributes = GREY["signed 16-bit"]
    image = open_image(write_endian(tmp_path / "be.dcm", pixels, bits, True, **attributes))
    assert image.modality.dtype == np.float32
    np.testing.assert_array_equal(image.modality, pixels.astype(np.float32) * 2 + 5)
