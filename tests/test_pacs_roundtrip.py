"""Issue 18's round trip through `radcam-cli`, against a real Orthanc started for this module: the fixture chest
DICOMs uploaded, found (C-FIND, QIDO-RS), retrieved into the cache (C-GET, C-MOVE, WADO-RS), explained with the demo
model into a Secondary Capture, a GSPS and a Parametric Map (anonymised and not), sent back (C-STORE, STOW-RS), found
again in Orthanc by REST with their references to the original; anonymised, no patient name, ID or source path in
Orthanc's stored bytes, stdout or stderr."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, assert_one_line_error, needs_fixtures, needs_orthanc, run_cli
from pydicom import dcmread

pytestmark = [needs_orthanc, needs_fixtures]

# The chest fixtures: (file, patient name, patient ID); each is its own study.
CHEST = {
    "cr": ("cr_chest_mono1_j2k.dcm", "CompressedSamples^RG1", "9RG1"),  # CR, MONOCHROME1, lossy JPEG 2000
    "dx": ("dx_chest_nih_uncompressed.dcm", "Covid0000", "Covid0000"),  # DX, uncompressed
    "siim": ("cr_chest_siim_jpeg_baseline.dcm", "16d7f894-55d7-4d95-8957-d18987f0e981",
             "16d7f894-55d7-4d95-8957-d18987f0e981"),  # CR, JPEG baseline
}
SC_GSPS_PM = ("1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.11.1", "1.2.840.10008.5.1.4.1.1.30")


def _source(key: str) -> Path:
    return FIXTURES / "dicom" / CHEST[key][0]


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    """This module's own Orthanc (nothing another test uploads or deletes), RADCAM known for C-MOVE, the chest
    fixtures uploaded through REST."""
    from viewer.bench.orthanc import Orthanc, free_port

    server = Orthanc(tmp_path_factory.mktemp("roundtrip"), modalities={"RADCAM": ("127.0.0.1", free_port())})
    server.start()
    try:
        server.upload([_source(key) for key in CHEST])
        yield server
    finally:
        server.stop()


class Cli:
    """radcam-cli in this process with private configuration and cache folders, nodes "dimse" and "web" for the
    module's Orthanc; the web node's password goes in by --password-stdin (never into a keyring of this machine)."""

    def __init__(self, capsys, monkeypatch, pacs, folder: Path):
        self.capsys, self.monkeypatch, self.pacs, self.folder = capsys, monkeypatch, pacs, folder
        monkeypatch.setenv("RADCAM_CONFIG_DIR", str(folder / "config"))
        self.cache(folder / "cache")
        move_port = pacs.modalities["RADCAM"][1]
        for argv in (("dimse", "--ae-title", pacs.aet, "--host", "127.0.0.1", "--port", pacs.dicom_port,
                      "--move-port", move_port, "--timeout", "20"),
                     ("web", "--url", pacs.dicomweb_url, "--username", pacs.username, "--timeout", "20")):
            code, _out, err = self("nodes", "add", *argv)
            assert code == 0, err

    def cache(self, folder: Path) -> Path:
        self.monkeypatch.setenv("RADCAM_CACHE_DIR", str(folder))
        return folder

    def __call__(self, *argv, password: str | None = None, pacs: bool = True):
        needs = password is not None or (len(argv) > 1 and argv[1] == "web" and argv[0] != "nodes")
        if needs:
            self.monkeypatch.setattr(sys, "stdin", io.StringIO((password or self.pacs.password) + "\n"))
            argv = (*argv, "--password-stdin")
        return run_cli(self.capsys, *(("pacs",) if pacs else ()), *argv)


@pytest.fixture
def cli(capsys, monkeypatch, pacs, tmp_path):
    return Cli(capsys, monkeypatch, pacs, tmp_path)


def _one_json(out: str):
    return json.loads(out)


# -- echo, find ---------------------------------------------------------------------------------------------------


def test_echo_both_nodes_and_refusals_are_one_line(cli, pacs):
    for node in ("dimse", "web"):
        code, out, err = cli("echo", node)
        assert code == 0, err
        assert out.startswith(f"{node}: echo ok (")
    code, _out, err = cli("echo", "web", password="wrong-password")
    assert_one_line_error(code, err)
    assert "web" in err and "wrong-password" not in err
    cli("nodes", "add", "stranger", "--ae-title", "NOT-ORTHANC", "--host", "127.0.0.1", "--port", pacs.dicom_port,
        "--timeout", "5")
    code, _out, err = cli("echo", "stranger")
    assert_one_line_error(code, err)
    assert f"NOT-ORTHANC@127.0.0.1:{pacs.dicom_port}" in err


@pytest.mark.parametrize("node", ["dimse", "web"])
def test_find_studies_and_series(cli, node):
    cr = dcmread(_source("cr"), stop_before_pixels=True)
    code, out, err = cli("find", node, "--patient-id", "9RG1", "--json")
    assert code == 0, err
    found = _one_json(out)
    assert [match["study_uid"] for match in found] == [cr.StudyInstanceUID]
    assert found[0]["patient_name"] == "CompressedSamples^RG1" and found[0]["study_date"] == "20040826"
    code, out, err = cli("find", node, "--modality", "DX", "--json")
    assert code == 0, err
    assert [m["patient_id"] for m in _one_json(out)] == ["Covid0000"]
    code, out, err = cli("find", node, "--patient-name", "Compressed*", "--date", "20040101-20041231", "--json")
    assert code == 0, err
    assert [m["study_uid"] for m in _one_json(out)] == [cr.StudyInstanceUID]
    code, out, err = cli("find", node, "--date", "-19991231", "--json")
    assert code == 0 and [m["patient_id"] for m in _one_json(out)] == [CHEST["siim"][2]]  # its date is 19010101
    code, out, err = cli("find", node, "--study", cr.StudyInstanceUID, "--json")
    assert code == 0, err
    series = _one_json(out)
    assert [s["series_uid"] for s in series] == [cr.SeriesInstanceUID] and series[0]["modality"] == "CR"
    code, out, err = cli("find", node, "--patient-id", "9RG1")  # the table
    assert code == 0 and out.splitlines()[0].startswith("STUDY UID") and cr.StudyInstanceUID in out
    code, out, err = cli("find", node, "--patient-id", "NOBODY")
    assert code == 0 and out == "" and "no match" in err


# -- get --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("node", "via"), [("dimse", "get"), ("dimse", "move"), ("web", "wado")])
def test_get_into_the_cache_then_again_from_it(cli, tmp_path, node, via):
    cache = cli.cache(tmp_path / f"cache-{via}")
    for key in CHEST:
        source = dcmread(_source(key))
        code, out, err = cli("get", node, source.StudyInstanceUID, "--via", via, "--json")
        assert code == 0, err
        got = _one_json(out)
        assert got["complete"] and (got["fetched"], got["reused"], got["instances"]) == (1, 0, 1), got
        assert Path(got["folder"]) == cache / source.StudyInstanceUID
        path = Path(got["paths"][0])
        assert path == cache / source.StudyInstanceUID / source.SeriesInstanceUID / f"{source.SOPInstanceUID}.dcm"
        copy = dcmread(path)
        assert copy.SOPInstanceUID == source.SOPInstanceUID and copy.PatientID == source.PatientID
        assert copy.pixel_array.shape == source.pixel_array.shape
        if key == "dx":  # uncompressed: the very pixels
            assert copy.PixelData == source.PixelData
        assert json.loads((cache / source.StudyInstanceUID / ".radcam-retrieve.json").read_text())["state"] == \
            "complete"
    cr = dcmread(_source("cr"), stop_before_pixels=True)
    code, out, err = cli("get", node, cr.StudyInstanceUID, "--via", via)
    assert code == 0, err
    assert out.startswith(f"1 instance(s) in {cache / cr.StudyInstanceUID} (fetched 0, already cached 1")
    code, out, err = cli("get", node, cr.StudyInstanceUID, "--series", cr.SeriesInstanceUID, "--via", via, "--json")
    assert code == 0 and _one_json(out)["reused"] == 1
    code, out, err = cli("cache")
    assert code == 0 and "3 studies (3 complete, 0 partial)" in out


def test_get_an_unknown_study_is_one_line(cli):
    for node in ("dimse", "web"):
        code, _out, err = cli("get", node, "1.2.3.4.5.6.7.8.9")
        assert_one_line_error(code, err)
        assert node in err


# -- explain the retrieved image, send the results back, find them again -----------------------------------------


def _references(ds) -> set[str]:
    """Every ReferencedSOPInstanceUID in `ds`, at any depth."""
    found: set[str] = set()

    def walk(data) -> None:
        for element in data:
            if element.VR == "SQ":
                for item in element.value:
                    walk(item)
            elif element.keyword == "ReferencedSOPInstanceUID":
                found.add(str(element.value))

    walk(ds)
    return found


def _stored(pacs, sop_uids: set[str]) -> dict[str, bytes]:
    """The stored files of those instances in Orthanc (REST), by SOP Instance UID."""
    found = {}
    for instance in pacs.instances():
        uid = instance["MainDicomTags"].get("SOPInstanceUID")
        if uid in sop_uids:
            found[uid] = pacs.instance_file(instance["ID"])
    return found


@pytest.mark.slow
@pytest.mark.parametrize("anonymize", [False, True], ids=["plain", "anonymised"])
def test_explain_send_and_find_again(cli, pacs, tmp_path, anonymize):
    source = dcmread(_source("cr"), stop_before_pixels=True)
    name, patient_id = CHEST["cr"][1:]
    cache = cli.cache(tmp_path / "cache")
    code, out, err = cli("get", "dimse", source.StudyInstanceUID, "--json")
    assert code == 0, err
    retrieved = next(Path(p) for p in _one_json(out)["paths"] if Path(p).stem == source.SOPInstanceUID)
    out_dir = tmp_path / "out"
    flags = ("--anonymize",) if anonymize else ()
    code, out, err = cli("explain", retrieved, "--dicom-sc", "--dicom-gsps", "--dicom-pmap", "--out", out_dir,
                         *flags, pacs=False)
    assert code == 0, err
    said = [out + err]
    written = sorted(out_dir.glob("*.dcm"))
    kinds = sorted(next(k for k in ("_overlay_sc.dcm", "_gsps.dcm", "_pmap.dcm") if p.name.endswith(k))
                   for p in written)
    assert kinds == ["_gsps.dcm", "_overlay_sc.dcm", "_pmap.dcm"], [p.name for p in written]
    objects = {dcmread(p).SOPClassUID: dcmread(p) for p in written}
    assert set(objects) == set(SC_GSPS_PM)
    ours = {str(ds.SOPInstanceUID) for ds in objects.values()}
    # the original each object references: itself, or (anonymised) its one replacement UID
    original = {uid for ds in objects.values() for uid in _references(ds)} - ours
    assert len(original) == 1, original
    referenced = original.pop()
    assert (referenced == source.SOPInstanceUID) != anonymize

    try:
        said += _send_twice(cli, pacs, out_dir, written, ours, referenced, source, anonymize,
                            (name, name.split("^")[0], patient_id, str(retrieved), str(cache), retrieved.name,
                             source.SOPInstanceUID, source.StudyInstanceUID))
    finally:  # the study as uploaded again, for the other tests
        for uid in _stored(pacs, ours):
            _delete(pacs, uid)
    if anonymize:
        for text in said:
            for secret in (name.split("^")[0], patient_id, str(retrieved), retrieved.name, str(cache)):
                assert secret not in text, secret


def _delete(pacs, sop_uid: str) -> None:
    pacs.delete_instance(next(i["ID"] for i in pacs.instances() if i["MainDicomTags"].get("SOPInstanceUID") == sop_uid))


def _send_twice(cli, pacs, out_dir, written, ours, referenced, source, anonymize, secrets) -> list[str]:
    """C-STORE the output folder, then STOW-RS the files, each onto a clean slate; each time the three objects are
    found again by REST, referencing the original; anonymised, none of `secrets` in their bytes."""
    said = []
    for sender, paths in (("dimse", [out_dir]), ("web", written)):  # C-STORE a folder, STOW-RS the files
        for uid in _stored(pacs, ours):  # a clean slate: what is found next came by this sender
            _delete(pacs, uid)
        code, out, err = cli("send", sender, *paths)
        assert code == 0, err
        said.append(out + err)
        lines = out.splitlines()
        assert len(lines) == 3 and all(line.startswith("stored") for line in lines), out
        assert f"{sender}: 3 instance(s) stored" in err
        stored = _stored(pacs, ours)
        assert set(stored) == ours, sender
        for data in stored.values():
            ds = dcmread(io.BytesIO(data))
            assert referenced in _references(ds), (sender, ds.SOPClassUID)
            same_study = ds.StudyInstanceUID == source.StudyInstanceUID
            assert same_study != anonymize, (sender, ds.SOPClassUID)
            if anonymize:
                for secret in secrets:
                    assert secret.encode() not in data, (sender, ds.SOPClassUID, secret)
    return said


def test_send_refuses_a_file_that_is_not_dicom_before_sending_anything(cli, pacs, tmp_path):
    before = len(pacs.instances())
    dicom = FIXTURES / "dicom" / "ct_small.dcm"
    notes = tmp_path / "notes.txt"
    notes.write_text("not DICOM")
    for node in ("dimse", "web"):
        code, _out, err = cli("send", node, dicom, notes)
        assert code == 2 and err.strip().splitlines()[-1].startswith("radcam: error: "), err
        assert "notes.txt" in err and "Traceback" not in err
    assert len(pacs.instances()) == before  # not even the DICOM file went


# -- what the network libraries log ------------------------------------------------------------------------------


def test_no_patient_name_reaches_the_log_even_at_debug(cli, tmp_path):
    """pynetdicom's DEBUG dumps every C-FIND identifier and urllib3's every QIDO URL: with the root logger at
    DEBUG and --log FILE, neither the file nor stderr carries the name searched for."""
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.DEBUG)
    log = tmp_path / "radcam.log"
    try:
        for node in ("dimse", "web"):
            code, out, err = cli("--log", log, "pacs", "find", node, "--patient-name", "CompressedSamples*",
                                 pacs=False, password=cli.pacs.password if node == "web" else None)
            assert code == 0, err
            assert "CompressedSamples" in out  # the user asked: the answer shows it
            assert "CompressedSamples" not in err
    finally:
        root.setLevel(before)
    assert "CompressedSamples" not in (log.read_text() if log.exists() else "")

