"""Nothing RadCAM prints or logs carries patient data read from a file; anonymous exports carry none anywhere."""

from __future__ import annotations

import logging

import numpy as np
import pydicom
import pytest

from conftest import run_cli, write_dicom

NAME, PATIENT_ID, ACCESSION = "SECRETNAME^GIVEN", "SECRET-ID-4711", "ACC-SECRET-99"
NEEDLES = ("SECRETNAME", "GIVEN", PATIENT_ID, ACCESSION)


@pytest.fixture
def patient_file(tmp_path):
    rows = np.linspace(0, 4000, 128, dtype=np.float64)[:, None]
    pixels = (rows + np.linspace(0, 95, 128)[None, :]).astype(np.uint16)
    return write_dicom(tmp_path / "study.dcm", pixels, bits_stored=12, PatientName=NAME, PatientID=PATIENT_ID,
                       AccessionNumber=ACCESSION, PatientBirthDate="19700101", InstitutionName="SECRET HOSPITAL")


def assert_clean(text: str, where: str) -> None:
    leaked = [needle for needle in NEEDLES if needle in text]
    assert not leaked, f"{where} contains {leaked}"


def test_logs_and_stderr_of_every_command_carry_no_patient_data(capsys, caplog, tmp_path, patient_file):
    caplog.set_level(logging.DEBUG)
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(patient_file.read_bytes()[:-5000])  # fails after the header (with the name) is read
    runs = [("view", patient_file, "--out", tmp_path / "view.png"),
            ("view", truncated, "--out", tmp_path / "bad.png"),
            ("explain", patient_file, "--out", tmp_path / "explained"),
            ("explain", truncated, "--out", tmp_path / "bad"),
            ("predict", patient_file)]
    for argv in runs:
        code, _out, err = run_cli(capsys, *argv)
        assert code in (0, 2)
        assert_clean(err, f"stderr of {argv[0]} {argv[1].name}")
    assert_clean("\n".join(record.getMessage() for record in caplog.records), "the log")


def test_anonymous_explain_leaks_nothing_in_names_sidecar_burned_in_text_or_dicom(capsys, tmp_path, patient_file):
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "explain", patient_file, "--out", out, "--dicom-sc", "--anonymize")
    assert code == 0, err
    assert_clean(stdout, "the result line")
    written = sorted(out.iterdir())
    assert written and all(path.name.startswith("radcam_001") for path in written)
    for path in written:
        if path.suffix == ".json":
            assert_clean(path.read_text(), path.name)
        if path.suffix == ".dcm":
            exported = pydicom.dcmread(path)
            assert_clean(repr(exported), path.name)
            source = pydicom.dcmread(patient_file)
            assert exported.StudyInstanceUID != source.StudyInstanceUID
            assert exported.SOPInstanceUID != source.SOPInstanceUID
