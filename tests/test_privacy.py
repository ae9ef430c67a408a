"""Nothing RadCAM prints or logs carries patient data read from a file; anonymous exports carry none anywhere."""

from __future__ import annotations

import json
import logging
from pathlib import Path

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


# Under --anonymize: nothing of the patient, in any byte of anything printed, logged or written ---------------------

LEAK_NAME, LEAK_ID = "LEAKNAME^SECRETGIVEN", "LEAKID-4711"
# Needles long enough that compressed pixels cannot hold one by chance.
LEAK_NEEDLES = ("LEAKNAME", "SECRETGIVEN", LEAK_ID, "LEAKFOLDER", "LEAKTEST", "LEAKACC-0815", "LEAKHOSPITAL",
                "LEAKDOCTOR", "19610704")


def _marked_study(path, pixels):
    """A header marked with the patient in many places: named attributes, free text, a sequence item, a private tag."""
    from pydicom import Dataset

    mark = "LEAKNAME SECRETGIVEN"
    item = Dataset()
    item.RequestedProcedureDescription = f"chest {mark}"
    item.RequestedProcedureID = LEAK_ID
    item.ScheduledPerformingPhysicianName = "LEAKDOCTOR^A"
    path = write_dicom(path, pixels, bits_stored=12, PatientName=LEAK_NAME, PatientID=LEAK_ID,
                       PatientBirthDate="19610704", OtherPatientNames="LEAKNAME^OLD", OtherPatientIDs=LEAK_ID,
                       PatientAddress="1 LEAKNAME Street", AccessionNumber="LEAKACC-0815",
                       InstitutionName="LEAKHOSPITAL", ReferringPhysicianName="LEAKDOCTOR^B",
                       ConsultingPhysicianName="LEAKDOCTOR^C", StudyDescription=f"chest {mark}",
                       SeriesDescription=f"PA {mark}", ImageComments=f"for {mark}", TextComments=mark,
                       IdentifyingComments=mark, ClinicalTrialSubjectID=LEAK_ID, RequestAttributesSequence=[item])
    ds = pydicom.dcmread(path)
    ds.private_block(0x0009, "LEAK 1.0", create=True).add_new(0x01, "LO", mark)
    ds.save_as(path)
    return path


@pytest.fixture
def leaky_folder(tmp_path):
    """LEAKFOLDER_Doe/: two marked studies, one whose pixels are cut short (fails), and a note (skipped)."""
    folder = tmp_path / "LEAKFOLDER_Doe"
    folder.mkdir()
    rows = np.linspace(0, 4000, 256)[:, None] + np.linspace(0, 95, 256)[None, :]
    good = _marked_study(folder / "LEAKTEST_SECRET.dcm", rows.astype(np.uint16))
    _marked_study(folder / "LEAKTEST_SECRET_2.dcm", rows.T.copy().astype(np.uint16))
    broken = _marked_study(folder / "LEAKTEST_SECRET_broken.dcm", rows.astype(np.uint16))
    broken.write_bytes(broken.read_bytes()[:-20000])  # the header (every mark) reads, the pixels do not
    (folder / "LEAKTEST_SECRET_notes.txt").write_text(f"{LEAK_NAME} {LEAK_ID}")
    return folder, good, broken


def _assert_no_leak(data: bytes, where: str, secrets: tuple[bytes, ...]) -> None:
    leaked = [needle for needle in secrets if needle in data]
    assert not leaked, f"{where} carries {leaked}"


def test_anonymous_runs_of_every_command_leak_nothing_anywhere(capsys, caplog, tmp_path, leaky_folder):
    caplog.set_level(logging.DEBUG)
    folder, good, broken = leaky_folder
    source = pydicom.dcmread(good)
    secrets = tuple(needle.encode() for needle in LEAK_NEEDLES) + tuple(
        str(uid).encode() for uid in (source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID))
    out, log = tmp_path / "out", tmp_path / "radcam.log"
    keys = tmp_path / "keys"
    keys.mkdir()
    runs = [
        ("--log", log, "explain", folder, "--out", out / "batch", "--dicom-sc", "--anonymize",
         "--key-file", keys / "explain.csv"),
        ("--log", log, "explain", good, "--out", out / "one", "--dicom-sc", "--anonymize"),
        ("--log", log, "explain", broken, "--out", out / "broken", "--anonymize"),  # a single failing image
        ("--log", log, "predict", folder, "--anonymize", "--key-file", keys / "predict.json"),
        ("--log", log, "predict", folder, "--anonymize", "--csv", out / "scores.csv"),
    ]
    printed = []
    for argv in runs:
        code, stdout, stderr = run_cli(capsys, *argv)
        assert code in (0, 2), stderr
        printed.append((argv, stdout, stderr))
        _assert_no_leak(stdout.encode("utf-8"), f"stdout of {argv[2]}", secrets)
        _assert_no_leak(stderr.encode("utf-8"), f"stderr of {argv[2]}", secrets)
    # the batch explained both good images, said the broken one failed and the note was skipped, by pseudonym
    _argv, stdout, stderr = printed[0]
    assert [json.loads(line)["image"] for line in stdout.splitlines()] == ["radcam_001", "radcam_002"]
    assert "radcam: error: radcam_003:" in stderr and "radcam: skipped skipped_001:" in stderr
    assert printed[2][2].startswith("radcam: error: radcam_001:")
    written = [path for path in out.rglob("*") if path.is_file()]
    assert any(path.suffix == ".dcm" for path in written) and any(path.suffix == ".json" for path in written)
    for path in [*written, log]:
        _assert_no_leak(path.read_bytes(), str(path.relative_to(tmp_path)), secrets)  # every byte, DICOM too
        _assert_no_leak(str(path.relative_to(tmp_path)).encode(), "a written file's name", secrets)
    _assert_no_leak("\n".join(record.getMessage() for record in caplog.records).encode(), "the log", secrets)
    for path in out.rglob("*.dcm"):
        exported = pydicom.dcmread(path)
        assert exported.PatientName == "ANONYMOUS" and exported.PatientIdentityRemoved == "YES"
        assert "RequestAttributesSequence" not in exported
    # the mapping back exists only where it was asked for, and holds it
    mapping = (keys / "explain.csv").read_text(encoding="utf-8")
    assert f"radcam_001,{good}" in mapping and "skipped_001," in mapping
    assert json.loads((keys / "predict.json").read_text())["radcam_002"].endswith("LEAKTEST_SECRET_2.dcm")


def test_key_file_needs_anonymize_and_is_not_replaced(capsys, tmp_path, patient_file):
    from conftest import assert_one_line_error

    code, _out, err = run_cli(capsys, "explain", patient_file, "--out", tmp_path / "o", "--key-file", tmp_path / "k")
    assert_one_line_error(code, err)
    assert "--anonymize" in err
    (tmp_path / "k.csv").write_text("old")
    code, _out, err = run_cli(capsys, "predict", patient_file, "--anonymize", "--key-file", tmp_path / "k.csv")
    assert_one_line_error(code, err)
    assert (tmp_path / "k.csv").read_text() == "old"


def test_anonymous_names_hide_the_folders_of_dicomdir_media_named_after_the_patient(capsys, tmp_path):
    """Hand-made media whose file IDs are DOEJOHN/SUB/IM1 (copied in lower case, one file missing): the skipped line
    names the folders the reference passes through ('no IM2 in doejohn/SUB'), and those are the patient's name."""
    from pydicom.fileset import FileSet
    from pydicom.uid import generate_uid

    from viewer.cli.naming import Names
    from viewer.cli.paths import expand

    study, source = generate_uid(), tmp_path / "in"
    source.mkdir()
    for number in (1, 2):
        write_dicom(source / f"{number}.dcm", np.full((4, 4), number, np.uint16), StudyInstanceUID=study,
                    InstanceNumber=number, StudyDate="20240101", StudyTime="120000")
    fileset = FileSet()
    for path in sorted(source.glob("*.dcm")):
        fileset.add(pydicom.dcmread(path))
    media = tmp_path / "media"
    fileset.write(media)
    dicomdir = pydicom.dcmread(media / "DICOMDIR")
    records = [r for r in dicomdir.DirectoryRecordSequence if "ReferencedFileID" in r]
    (media / "leakjohn" / "SUB").mkdir(parents=True)  # on disk in lower case, as a hand copy gives
    for number, record in enumerate(records, 1):
        record.ReferencedFileID = ["LEAKJOHN", "SUB", f"IM{number}"]
    (media / "PT000000/ST000000/SE000000/IM000000").rename(media / "leakjohn" / "SUB" / "IM1")
    dicomdir.save_as(media / "DICOMDIR")

    names = Names(True, [media / "DICOMDIR"])
    files = expand([media / "DICOMDIR"], names)
    assert len(files) == 1
    err = capsys.readouterr().err
    assert err.startswith("radcam: skipped skipped_001: listed in the DICOMDIR but missing"), err
    assert "leakjohn" not in err.lower(), err
    names.write_key(tmp_path / "key.csv", overwrite=False)  # where the user asked for one, folder_N maps back too
    assert f"folder_1,{media / 'LEAKJOHN'}\n" in (tmp_path / "key.csv").read_text(encoding="utf-8")


def test_anonymous_out_of_domain_reasons_quote_no_patient_name_in_any_case(capsys, tmp_path):
    """The reasons quote the file's codes (body part, view), upper-cased: a body part typed with the patient's name
    ('chest Leakjohn') must not carry it into the warning line, the JSON line, the sidecar or the CSV."""
    pixels = (np.linspace(0, 4000, 256)[:, None] + np.linspace(0, 95, 256)[None, :]).astype(np.uint16)
    folder = tmp_path / "in"
    folder.mkdir()
    study = write_dicom(folder / "a.dcm", pixels, bits_stored=12, Modality="DX", PatientName="Leakjohn^Secretgiven",
                        PatientID="Leakid-4711", BodyPartExamined="chest Leakjohn Leakid-4711")
    out = tmp_path / "out"
    runs = [("explain", study, "--out", out, "--anonymize"), ("predict", study, "--anonymize"),
            ("predict", study, "--anonymize", "--csv", tmp_path / "scores.csv")]
    for argv in runs:
        code, stdout, stderr = run_cli(capsys, *argv)
        assert code == 0, stderr
        assert "out of domain: body part" in stderr, stderr  # the guard still says why
        for text, where in ((stdout, "stdout"), (stderr, "stderr")):
            assert "LEAKJOHN" not in text.upper() and "LEAKID" not in text.upper(), f"{where} of {argv[0]}: {text}"
    for path in [*out.iterdir(), tmp_path / "scores.csv"]:
        data = path.read_bytes().upper()
        assert b"LEAKJOHN" not in data and b"LEAKID" not in data, path.name


@pytest.mark.parametrize("command", ["explain", "predict"])
def test_anonymous_internal_error_lines_do_not_repeat_a_library_message(capsys, tmp_path, monkeypatch, command):
    """A bug met on one image is said in one line; a library's message often quotes the value it choked on, read from
    the file ("Unable to convert '19610704X' to 'DA' object"), which names nothing as a path does."""
    from viewer.cam import CamEngine
    from viewer.model.loaded import LoadedModel

    def choke(*args, **kwargs):
        raise ValueError("Unable to convert 'LEAKNAME 19610704X' to 'DA' object")

    monkeypatch.setattr(CamEngine if command == "explain" else LoadedModel, "explain" if command == "explain"
                        else "prepare", choke)
    if command == "explain":  # the batched pass chokes too (each image is then explained alone)
        monkeypatch.setattr(CamEngine, "explain_batch", choke, raising=False)
    pixels = (np.linspace(0, 4000, 128)[:, None] + np.linspace(0, 95, 128)[None, :]).astype(np.uint16)
    files = [write_dicom(tmp_path / f"{i}.dcm", pixels, bits_stored=12) for i in (1, 2)]
    extra = ["--out", tmp_path / "out"] if command == "explain" else []
    code, stdout, err = run_cli(capsys, command, *files, *extra, "--anonymize")
    assert code == 1 and "radcam: error: radcam_001: internal error: ValueError" in err, err
    assert "LEAKNAME" not in err + stdout and "19610704" not in err + stdout, err


def test_anonymous_names_of_a_short_or_dot_input_do_not_garble_messages():
    """`predict . --anonymize` (or an input folder named 'a'): the input's own text, '.' or 'a', was replaced wherever
    it stood in a message ('transfer syntax 1input_12input_1...'). A path is replaced whole, a bare name of 3 or
    more."""
    from viewer.cli.naming import Names

    names = Names(True, [Path("."), Path("a")])
    names.image(Path("a/LEAKNAME.dcm"), "radcam_001")
    message = "unsupported transfer syntax 1.2.3.4 in a/LEAKNAME.dcm, a bad file"
    assert names.clean(message) == "unsupported transfer syntax 1.2.3.4 in radcam_001, a bad file"
    assert names.clean(f"cannot list {Path('.').resolve()}") == "cannot list input_1"
