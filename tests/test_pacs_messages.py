"""What PACS failures and logs say, whatever the protocol: every error line begins "PACS node 'NAME' (ADDRESS)",
never a password; a PACS's Error Comment stays one line; pynetdicom, dicomweb_client and urllib3 log no patient
name or ID, in the viewer as in the CLI, even with the root logger (or pynetdicom's own) at DEBUG."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import dimse_node, needs_orthanc, web_node, write_dicom
from pydicom import dcmread
from pydicom.uid import generate_uid

from viewer.bench.orthanc import free_port
from viewer.errors import PacsError
from viewer.pacs.client import StudyQuery, open_client
from viewer.pacs.nodes import Node
from viewer.pacs.store_status import store_result

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_every_error_line_begins_with_the_node_in_one_form(kind):
    port = free_port()  # nothing listens there
    if kind == "dimse":
        node = Node("main pacs", "dimse", ae_title="PACS", host="127.0.0.1", port=port, timeout=2.0)
        address = f"PACS@127.0.0.1:{port}"
    else:
        node = Node("main pacs", "dicomweb", url=f"http://reader:hunter2@127.0.0.1:{port}/dicom-web", timeout=2.0)
        address = f"http://127.0.0.1:{port}/dicom-web"
    with pytest.raises(PacsError) as caught, open_client(node) as client:
        client.echo()
    message = str(caught.value)
    assert message.startswith(f"PACS node 'main pacs' ({address}): "), message
    assert "hunter2" not in message and "\n" not in message


def test_a_pacs_error_comment_stays_one_short_line():
    comment = "Patient ID conflict:\r\nexpected\tother ID " + "x" * 100
    result = store_result(Path("a.dcm"), "1.2.3", 0xA900, comment)
    assert not result.ok and result.message.startswith("refused: data set does not match SOP class (status 0xA900): ")
    said = result.message.split("): ", 1)[1]
    assert said.startswith("Patient ID conflict: expected other ID x") and len(said) == 64 and said.endswith("…")
    assert "\n" not in result.message and "\r" not in result.message and "\t" not in result.message
    assert store_result(Path("a.dcm"), "1.2.3", 0xB000, "").message == \
        "stored with warning: coercion of data elements (status 0xB000)"


def test_any_user_of_viewer_pacs_gets_the_network_loggers_at_warning():
    """A fresh interpreter with the root at DEBUG, as an embedding application or the viewer's own debug log has."""
    code = ("import logging; logging.basicConfig(level=logging.DEBUG); import viewer.pacs.nodes; "
            "import viewer.pacs.dimse; from pynetdicom import _config; "
            "print([logging.getLogger(n).getEffectiveLevel() for n in ('pynetdicom', 'dicomweb_client', 'urllib3')],"
            " _config.LOG_REQUEST_IDENTIFIERS, _config.LOG_RESPONSE_IDENTIFIERS)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[30,", "30,", "30]", "False", "False"]


@needs_orthanc
def test_no_patient_on_the_log_even_with_pynetdicom_at_debug(orthanc, tmp_path, caplog):
    folder = tmp_path / "src"
    folder.mkdir()
    study = generate_uid()
    path = write_dicom(folder / "a.dcm", np.zeros((8, 8), np.uint16), StudyInstanceUID=study,
                       PatientName="Hidden^Lognames", PatientID="LOGPID-4242")
    orthanc.upload([path])
    chosen = logging.getLogger("pynetdicom").level
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG)  # someone debugging an association
    caplog.set_level(logging.DEBUG)
    try:
        with open_client(dimse_node(orthanc)) as client:
            (match,) = client.find_studies(StudyQuery(patient_id="LOGPID-4242"))
            client.fetch(client.list_instances(match.study_uid), lambda ds: path)
            client.store([path])
        with open_client(web_node(orthanc), orthanc.password) as client:
            assert client.find_studies(StudyQuery(patient_name="Hidden^Lognames"))
    finally:
        logging.getLogger("pynetdicom").setLevel(chosen)
    assert "pynetdicom" in caplog.text  # it did log at DEBUG ...
    assert "Lognames" not in caplog.text and "LOGPID-4242" not in caplog.text  # ... but no patient
    assert orthanc.password not in caplog.text
    assert dcmread(path).PatientID == "LOGPID-4242"


@needs_orthanc
@pytest.mark.parametrize("via", ["get", "move", "store"])
def test_an_association_gone_between_two_requests_is_one_pacs_error(orthanc, tmp_path, monkeypatch, via):
    """A PACS that aborts after one series (or one C-STORE): pynetdicom refuses the next request with a
    RuntimeError ("must be established"), which must read as the connection lost, not a traceback."""
    from pynetdicom.association import Association

    folder = tmp_path / "src"
    folder.mkdir()
    study = generate_uid()
    paths = [write_dicom(folder / f"{n}.dcm", np.full((8, 8), n, np.uint16), StudyInstanceUID=study,
                         SeriesInstanceUID=generate_uid()) for n in range(2)]  # two series: two requests
    orthanc.upload(paths)
    name = {"get": "send_c_get", "move": "send_c_move", "store": "send_c_store"}[via]
    original = getattr(Association, name)
    calls = []

    def second_after_an_abort(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            self.abort()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Association, name, second_after_an_abort)
    client = open_client(dimse_node(orthanc), retrieve="move" if via == "move" else "get")
    with pytest.raises(PacsError) as caught:
        if via == "store":
            client.store(paths)
        else:
            client.fetch(client.list_instances(study), lambda ds: tmp_path)
    assert str(caught.value).startswith("PACS node 'orthanc-dimse' (") and "connection lost" in str(caught.value)


@needs_orthanc
def test_c_get_when_the_pacs_left_the_sop_class_out_of_its_listing(orthanc, tmp_path):
    """SOP Class UID is an optional key at image level: a PACS may answer without it. C-GET then proposes the
    classes an X-ray study holds instead of refusing to retrieve."""
    from dataclasses import replace

    folder = tmp_path / "src"
    folder.mkdir()
    study = generate_uid()
    paths = [write_dicom(folder / f"{n}.dcm", np.full((8, 8), n, np.uint16), StudyInstanceUID=study)
             for n in range(2)]
    orthanc.upload(paths)
    got = []
    with open_client(dimse_node(orthanc), retrieve="get") as client:
        refs = [replace(ref, sop_class_uid="") for ref in client.list_instances(study)]
        client.fetch(refs, lambda ds: got.append(ds.SOPInstanceUID) or tmp_path)
    assert sorted(got) == sorted(str(dcmread(path).SOPInstanceUID) for path in paths)


def test_a_retrieve_or_find_failure_says_why_in_words():
    from pydicom import Dataset

    from viewer.pacs.dimse import _why

    node = Node("main", "dimse", ae_title="PACS", host="pacs.local", port=104, move_port=11113)
    status = Dataset()
    status.Status = 0xA801
    assert _why(status, node) == (": the PACS does not know 'RADCAM' as a C-MOVE destination (add RadCAM there "
                                  "with its host and move port 11113)")
    status.Status = 0xC012
    status.ErrorComment = "Unsupported\nquery key"
    assert _why(status, node) == ": the PACS cannot process the request (Unsupported query key)"
    status.Status = 0xFE00
    del status.ErrorComment
    assert _why(status, node) == ""
