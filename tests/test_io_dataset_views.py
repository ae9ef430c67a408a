"""The io layer's adjusted views of a data set (a frame's functional groups lifted, a damaged Modality LUT or rescale
dropped, a big-endian palette in native words) leave the data set as read: pydicom 3's Dataset.copy() shares the
element dict, so replacing or deleting an element of such a copy changed the original too (a second pass over the same
data set would swap a palette back to black, or lift another frame's values over this one's)."""

from __future__ import annotations

import math

import numpy as np
from pydicom import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian

from viewer.io.dicom import _native_palette
from viewer.io.header import checked_modality_lut, checked_rescale, frame_view


def test_dropping_a_damaged_modality_lut_leaves_the_data_set():
    ds = Dataset()
    ds.ModalityLUTSequence = [Dataset()]
    notes: list[str] = []
    view = checked_modality_lut(ds, notes)
    assert "ModalityLUTSequence" not in view and notes
    assert "ModalityLUTSequence" in ds


def test_replacing_a_bad_rescale_leaves_the_data_set():
    ds = Dataset()
    ds.RescaleSlope, ds.RescaleIntercept = "NaN", "-99"
    view = checked_rescale(ds, [])
    assert float(view.RescaleSlope) == 1
    assert math.isnan(ds.RescaleSlope)


def test_lifting_a_frames_functional_groups_leaves_the_data_set():
    ds = Dataset()
    frames = []
    for center in (10, 20):
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = center, 100
        group = Dataset()
        group.FrameVOILUTSequence = [voi]
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = frames
    assert frame_view(ds, 1).WindowCenter == 20
    assert "WindowCenter" not in ds
    assert frame_view(ds, 0).WindowCenter == 10


def test_a_big_endian_palette_in_native_words_leaves_the_data_set():
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.set_original_encoding(False, False)
    words = np.arange(256, dtype=">u2").tobytes()
    for colour in ("Red", "Green", "Blue"):
        setattr(ds, f"{colour}PaletteColorLookupTableData", words)
    native = _native_palette(ds)
    assert np.array_equal(np.frombuffer(native.RedPaletteColorLookupTableData, "<u2"), np.arange(256))
    assert ds.RedPaletteColorLookupTableData == words
    assert _native_palette(ds).RedPaletteColorLookupTableData == native.RedPaletteColorLookupTableData
