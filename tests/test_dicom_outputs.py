"""Every DICOM object RadCAM writes (Secondary Capture, GSPS, Parametric Map) passes dciodvfy (dicom3tools) with no
error, anonymised and not, built from real DICOM originals; it reads back with highdicom/pydicom with its references
to the original intact; anonymised, no byte of it carries the patient's name or ID or the source's path."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import FIXTURES
from pydicom.data import get_testdata_file

from viewer.export.anonymize import AnonymizationSession
from viewer.export.dicom_sc import write_secondary_capture

DCIODVFY = shutil.which("dciodvfy")
needs_dciodvfy = pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")

# Real originals: the chest fixtures (CR, DX) and pydicom's own CR (pydicom ships no DX or MG file).
FIXTURE_NAMES = ("cr_chest_mono1_j2k.dcm", "cr_chest_mono1_no_meta.dcm", "cr_chest_siim_jpeg_baseline.dcm",
                 "dx_chest_nih_uncompressed.dcm")


def _sources() -> list:
    found = [pytest.param(FIXTURES / "dicom" / name, id=name.removesuffix(".dcm"),
                          marks=pytest.mark.skipif(not (FIXTURES / "dicom" / name).is_file(),
                                                   reason=f"../shared/fixtures/dicom/{name} is absent"))
             for name in FIXTURE_NAMES]
    cr = get_testdata_file("6154", download=False)  # CR 16 x 16, Doe^Archibald, in pydicom's dicomdirtests
    if cr is None:
        found += [pytest.param(None, id="pydicom_cr", marks=pytest.mark.skip(reason="pydicom's CR 6154 is absent"))]
    else:
        found += [pytest.param(Path(cr), id="pydicom_cr")]
    return found


SOURCES = _sources()
LONG_DESCRIPTION = ("RadCAM Overlay: Grad-CAM · Pneumonia 0.930 · model am1codes_pneumonia_150 | CAM threshold "
                    "0.50 · decision threshold (PNEUMONIA) 0.50 | NOT FOR DIAGNOSIS")


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's Error lines for `path` (warnings are advice: none of them makes an object invalid)."""
    done = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


def read_source(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path, force=True)  # one fixture is an old file without preamble or file meta


def identifiers(source: pydicom.Dataset, path: Path) -> list[bytes]:
    """What must never leave an anonymised export: the patient's name (and its parts) and ID, the source's path."""
    found = [str(path).encode(), path.name.encode(), path.stem.encode()]
    for keyword in ("PatientName", "PatientID"):
        text = str(source.get(keyword) or "")
        if text and text.upper() not in ("ANONYMIZED", "ANONYMOUS"):
            found.append(text.encode())
            found += [part.encode() for part in text.replace("^", " ").split() if len(part) > 2]
    return found


def assert_no_identifier(path: Path, source: pydicom.Dataset, source_path: Path) -> None:
    raw = path.read_bytes()
    for secret in identifiers(source, source_path):
        assert secret not in raw, f"{secret!r} in {path.name}"


def _image(source: pydicom.Dataset) -> np.ndarray:
    return np.full((64, 96, 3), 90, np.uint8)


# Secondary Capture ------------------------------------------------------------------------------------------------

@needs_dciodvfy
@pytest.mark.parametrize("anonymize", [False, True], ids=["identified", "anonymised"])
@pytest.mark.parametrize("source_path", SOURCES)
def test_secondary_capture_passes_dciodvfy(tmp_path, source_path, anonymize):
    source, session = read_source(source_path), AnonymizationSession()
    out = tmp_path / "sc.dcm"
    write_secondary_capture(out, _image(source), source, LONG_DESCRIPTION, anonymize=anonymize, session=session)
    assert dciodvfy_errors(out) == []
    back = pydicom.dcmread(out)
    assert len(back.SeriesDescription.encode("utf-8")) <= 64  # LO is 64 bytes; "·" is two of them
    assert "Laterality" in back
    reference = back.SourceImageSequence[0]
    assert reference.ReferencedSOPClassUID == source.SOPClassUID
    if anonymize:
        assert reference.ReferencedSOPInstanceUID == session.uid(source.SOPInstanceUID)
        assert back.StudyInstanceUID == session.uid(source.StudyInstanceUID) != source.StudyInstanceUID
        assert_no_identifier(out, source, source_path)
    else:
        assert reference.ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert back.StudyInstanceUID == source.StudyInstanceUID


def test_series_description_is_cut_to_64_bytes_never_inside_a_character(tmp_path):
    from viewer.export.dicom_common import fit

    text = "é" * 40  # 80 bytes in UTF-8
    assert fit(text) == "é" * 32 and fit("short") == "short"
    assert fit("a" * 63 + "·b") == "a" * 63  # the 2-byte "·" does not fit in the 64th byte; no half of it stays
    assert len(fit(LONG_DESCRIPTION).encode()) <= 64 and not fit(LONG_DESCRIPTION).endswith(("|", " "))


def test_secondary_capture_copies_the_source_laterality(tmp_path):
    source = read_source(Path(get_testdata_file("CT_small.dcm")))
    source.ImageLaterality = "L"
    write_secondary_capture(tmp_path / "sc.dcm", np.zeros((8, 8), np.uint8), source, "x")
    assert pydicom.dcmread(tmp_path / "sc.dcm").Laterality == "L"
    del source.ImageLaterality
    write_secondary_capture(tmp_path / "none.dcm", np.zeros((8, 8), np.uint8), source, "x")
    back = pydicom.dcmread(tmp_path / "none.dcm")
    assert "Laterality" in back and not back.Laterality  # Type 2C with the body part unknown: present, empty
