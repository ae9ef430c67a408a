"""viewer.app.pacs_jobs without Qt (InlineJobs) against a real Orthanc: a retrieve of several studies in one job,
a send whose temporary folder is removed whatever happens, an export that wrote no DICOM refused before anything is
sent, and a node that needs a password refused before any connection when none is given."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import dimse_node, needs_orthanc, web_node, write_dicom
from pydicom.uid import generate_uid

from viewer.app.jobs import InlineJobs
from viewer.app.pacs_jobs import find_job, node_secret, retrieve_job, send_job, study_states
from viewer.errors import PacsError
from viewer.pacs.cache import PacsCache
from viewer.pacs.client import StudyQuery

pytestmark = needs_orthanc


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("RADCAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "cache"))


def run(job):
    """(result, error line) of `job` through the job contract."""
    outcome: dict = {}
    InlineJobs().submit(job, lambda value: outcome.setdefault("done", value),
                        lambda message: outcome.setdefault("error", message), kind="test")
    return outcome.get("done"), outcome.get("error")


def studies(folder: Path, patient: str, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        paths.append(write_dicom(folder / f"{number}.dcm", np.full((32, 32), number * 100, np.uint16),
                                 StudyInstanceUID=generate_uid(), PatientID=patient, Modality="CR"))
    return paths


def leftovers() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob("radcam-send-*"))


def test_two_studies_in_one_retrieve_and_their_cache_states(orthanc, tmp_path):
    patient = f"E5APP-{generate_uid()[-8:]}"
    orthanc.upload(studies(tmp_path / "in", patient, 2))
    node = dimse_node(orthanc)
    found, error = run(find_job(node, None, StudyQuery(patient_id=patient)))
    assert error is None and len(found) == 2
    cache = PacsCache(tmp_path / "cache", limit_bytes=1 << 30)
    uids = [match.study_uid for match in found]
    assert study_states(cache, uids + ["not a uid"]) == {uid: "" for uid in uids + ["not a uid"]}
    retrieved, error = run(retrieve_job(node, None, uids, cache))
    assert error is None and len(retrieved.results) == 2 and retrieved.fetched == 2
    assert len(retrieved.folders) == 2
    assert all(folder.is_relative_to(tmp_path / "cache") for folder in retrieved.folders)
    assert study_states(cache, uids) == {uid: "complete" for uid in uids}
    assert retrieved.summary() == "Retrieved 2 studies: 2 instance(s), 2 transferred"

    tiny = PacsCache(tmp_path / "tiny", limit_bytes=1)  # over the limit, but one retrieve never evicts its own studies
    retrieved, error = run(retrieve_job(node, None, uids, tiny))
    assert error is None and len(retrieved.folders) == 2
    assert study_states(tiny, uids) == {uid: "complete" for uid in uids}


def test_send_removes_its_folder_and_refuses_an_export_without_dicom(orthanc_factory, tmp_path):
    server = orthanc_factory()
    node = dimse_node(server)
    before = set(leftovers())
    _, error = run(send_job(node, None, lambda folder, _reporter: [folder / "x.png"]))
    assert error == "nothing to send: the export wrote no DICOM file"
    source = write_dicom(tmp_path / "one.dcm", np.zeros((16, 16), np.uint16))

    def export(folder: Path, _reporter) -> list[Path]:
        copy = folder / "one.dcm"
        copy.write_bytes(source.read_bytes())
        return [copy]

    sent, error = run(send_job(node, None, export))
    assert error is None and [result.ok for result in sent.results] == [True] and sent.summary().startswith("Sent 1")
    server.kill()  # a PACS gone: one line naming the node, and the folder still removed
    sent, error = run(send_job(node, None, export))
    problem = error or (sent.summary() if sent is not None and sent.refused else "")
    assert problem and node.name in problem and "\n" not in problem
    assert set(leftovers()) == before


def test_a_node_that_needs_a_password_is_refused_without_one(orthanc, monkeypatch):
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(PacsError, match=r"^PACS node 'nobody-asked' \(http://\S+\): needs a password"):
            node_secret(web_node(orthanc, name="nobody-asked"), lambda _node: None)
        assert node_secret(dimse_node(orthanc), None) is None
    finally:
        keyring.set_keyring(before)
