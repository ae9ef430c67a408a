"""DICOM outputs from odd originals in pydicom's own test files: each is written dciodvfy-clean, or refused in one
ExportError line (which the CLI prints as `radcam: error: ...`), never a highdicom traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import FIXTURES
from pydicom.data import get_testdata_file
from test_dicom_outputs import dciodvfy_errors, needs_dciodvfy, read_source

from viewer.errors import ExportError
from viewer.export.dicom_sc import write_secondary_capture
from viewer.export.gsps import GspsFinding, write_gsps
from viewer.export.parametric_map import write_parametric_map


def _testdata(name: str) -> pydicom.Dataset:
    """One of pydicom's test files, or ("fixture:NAME") of ../shared/fixtures/dicom."""
    if name.startswith("fixture:"):
        path = FIXTURES / "dicom" / name.removeprefix("fixture:")
        if not path.is_file():
            pytest.skip(f"{path} is absent")
        return read_source(path)
    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.skip(f"pydicom's test file {name} is absent")
    return read_source(Path(found))


def _write(kind: str, path: Path, source: pydicom.Dataset, anonymize: bool) -> None:
    if kind == "gsps":
        outline = np.array([[1.0, 1.0], [6.0, 1.0], [6.0, 6.0]])
        write_gsps(path, source, [GspsFinding("x", 0.5, "Grad-CAM", "demo", [outline])], None, description="RadCAM",
                   anonymize=anonymize)
    elif kind == "pmap":
        cam = np.zeros((int(source.Rows), int(source.Columns)), np.float32)
        write_parametric_map(path, source, cam, label="x", method="Grad-CAM", model="demo", anonymize=anonymize)
    else:
        write_secondary_capture(path, np.zeros((8, 8), np.uint8), source, "RadCAM", anonymize=anonymize)


@needs_dciodvfy
@pytest.mark.parametrize("anonymize", [False, True], ids=["identified", "anonymised"])
@pytest.mark.parametrize("name, kind", [
    ("fixture:voi_lut_sequence.dcm", "gsps"),  # a VOI LUT Sequence (US values) copied into the presentation state
    ("693_J2KI.dcm", "gsps"),  # Patient Identity Removed YES without a method: Type 1C once copied
    ("693_J2KI.dcm", "pmap"),
    ("6273", "pmap"),  # an MR whose Frame of Reference UID equals its Study UID: the map gets its own
    ("badVR.dcm", "sc"),
])
def test_odd_originals_give_clean_objects(tmp_path, name, kind, anonymize):
    _write(kind, tmp_path / "out.dcm", _testdata(name), anonymize)
    assert dciodvfy_errors(tmp_path / "out.dcm") == []


@pytest.mark.parametrize("name, kind, why", [
    ("rtdose_1frame.dcm", "gsps", "holds frames"),
    ("rtdose_1frame.dcm", "pmap", "holds frames"),
    ("liver_1frame.dcm", "pmap", "highdicom cannot build a Parametric Map"),  # a Segmentation as the original
    ("JPEGLSNearLossless_08.dcm", "sc", "no Study Instance UID"),
    ("JPEGLSNearLossless_08.dcm", "gsps", "no Study Instance UID"),
])
def test_odd_originals_are_refused_in_one_line(tmp_path, name, kind, why):
    with pytest.raises(ExportError, match=why) as refused:
        _write(kind, tmp_path / "out.dcm", _testdata(name), anonymize=False)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "out.dcm").exists()


def test_refusals_under_anonymisation_quote_no_header_value(tmp_path):
    source = _testdata("liver_1frame.dcm")
    with pytest.raises(ExportError) as refused:
        _write("pmap", tmp_path / "out.dcm", source, anonymize=True)
    assert str(refused.value).endswith("from this original")  # highdicom's words may quote the header: left out
