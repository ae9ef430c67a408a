"""The DICOMweb client against a real Orthanc (its DICOMweb plugin, basic authentication on): QIDO-RS searches and
echo, WADO-RS retrieval with progress and cancel, STOW-RS with per-instance results; wrong credentials, a refused
connection, a server that never answers, and TLS with a self-signed certificate (refused unless its CA is given).
Every failure is one PacsError line naming the node and never the secret."""

from __future__ import annotations

import base64
import logging
import shutil
import socket
import subprocess
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_orthanc, web_node, write_dicom
from pydicom import dcmread
from pydicom.uid import generate_uid

from viewer.errors import PacsError
from viewer.pacs.cache import MB, PacsCache
from viewer.pacs.client import StudyQuery, open_client, shown_url
from viewer.pacs.send import PacsRefusal
from viewer.pacs.web import WebClient
from viewer.progress import Cancelled

pytestmark = needs_orthanc


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("RADCAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "cache"))


def make_study(folder: Path, count: int = 3, series: int = 1, **attributes) -> tuple[str, list[Path]]:
    """`count` new instances of one new study (a patient of its own, so tests sharing the Orthanc never meet)."""
    folder.mkdir(parents=True, exist_ok=True)
    study = generate_uid()
    series_uids = [generate_uid() for _ in range(series)]
    attributes.setdefault("PatientID", f"E3-{uuid.uuid4().hex[:10]}")
    paths = [write_dicom(folder / f"{n}.dcm", np.full((32, 32), 100 * n, np.uint16), StudyInstanceUID=study,
                         SeriesInstanceUID=series_uids[n % series], InstanceNumber=n + 1, **attributes)
             for n in range(count)]
    return study, paths


class Recorder:
    """A reporter that remembers the fractions and cancels after `cancel_after` of them."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.fractions: list[float] = []
        self.cancel_after = cancel_after

    def progress(self, fraction: float) -> None:
        self.fractions.append(fraction)

    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.fractions) >= self.cancel_after


@pytest.fixture
def client(orthanc):
    with WebClient(web_node(orthanc), orthanc.password) as web:
        yield web


def test_open_client_gives_the_web_client_and_echo_answers(orthanc):
    with open_client(web_node(orthanc), orthanc.password) as web:
        assert isinstance(web, WebClient)
        web.echo()
    with WebClient(web_node(orthanc, url=orthanc.dicomweb_url + "/"), orthanc.password) as pasted:  # a trailing /
        pasted.echo()
        assert pasted.web.base_url == orthanc.dicomweb_url  # no "//studies" for a stricter server


def test_find_studies_by_patient_id_name_accession_date_and_modality(client, orthanc, tmp_path):
    patient = f"E3-{uuid.uuid4().hex[:10]}"
    study, paths = make_study(tmp_path / "a", count=2, PatientID=patient, PatientName="Curie Sklodowska^Marie",
                              AccessionNumber="ACC-E3-1", StudyDate="20240315", StudyDescription="CHEST PA",
                              Modality="DX")
    other, more = make_study(tmp_path / "b", count=1, PatientID=patient, PatientName="Curie Sklodowska^Marie",
                             StudyDate="20230101", Modality="CR")
    orthanc.upload(paths + more)
    [match] = client.find_studies(StudyQuery(patient_id=patient, modality="DX"))
    assert match.study_uid == study
    assert (match.patient_name, match.patient_id, match.accession) == ("Curie Sklodowska^Marie", patient, "ACC-E3-1")
    assert (match.study_date, match.description, match.modalities) == ("20240315", "CHEST PA", ("DX",))
    assert (match.series_count, match.instance_count) == (1, 2)
    found = {m.study_uid for m in client.find_studies(StudyQuery(patient_id=patient))}
    assert found == {study, other}
    # a name with wildcards, and one written in full with its space and "^" (they reach Orthanc as wildcards)
    assert {m.study_uid for m in client.find_studies(StudyQuery(patient_id=patient, patient_name="Cur*"))} == found
    assert {m.study_uid for m in client.find_studies(StudyQuery(patient_id=patient,
                                                                patient_name="curie sklodowska^marie"))} == found
    assert client.find_studies(StudyQuery(patient_id=patient, patient_name="Bohr*")) == []
    assert [m.study_uid for m in client.find_studies(StudyQuery(accession="ACC-E3-1"))] == [study]
    in_2024 = StudyQuery(patient_id=patient, date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))
    assert [m.study_uid for m in client.find_studies(in_2024)] == [study]


def test_find_series_and_list_instances(client, orthanc, tmp_path):
    study, paths = make_study(tmp_path, count=5, series=2)
    orthanc.upload(paths)
    series = client.find_series(study)
    assert sorted(s.instance_count or 0 for s in series) == [2, 3]
    assert {s.study_uid for s in series} == {study}
    refs = client.list_instances(study)
    assert {r.sop_instance_uid for r in refs} == {dcmread(p).SOPInstanceUID for p in paths}
    assert all(r.series_uid and r.sop_class_uid for r in refs)
    one = series[0]
    assert {r.series_uid for r in client.list_instances(study, one.series_uid)} == {one.series_uid}
    assert len(client.list_instances(study, one.series_uid)) == one.instance_count


def test_wado_rs_retrieves_each_instance_with_progress(client, orthanc, tmp_path):
    study, paths = make_study(tmp_path / "src", count=4)
    orthanc.upload(paths)
    cache = PacsCache(tmp_path / "cache", limit_bytes=100 * MB)
    refs = client.list_instances(study)
    reporter = Recorder()
    client.fetch(refs, cache.put, reporter)
    assert reporter.fractions == [0.25, 0.5, 0.75, 1.0]
    for path in paths:
        original = dcmread(path)
        back = dcmread(next((tmp_path / "cache" / study).glob(f"*/{original.SOPInstanceUID}.dcm")))
        assert np.array_equal(back.pixel_array, original.pixel_array)
        assert back.PatientID == original.PatientID


def test_instances_come_without_gzip_searches_may_use_it(client, orthanc, tmp_path):
    study, paths = make_study(tmp_path / "src", count=2)
    orthanc.upload(paths)
    seen: list[tuple[str, str | None]] = []
    client.session.hooks["response"].append(
        lambda r, *a, **kw: seen.append((r.request.headers.get("Accept-Encoding"), r.headers.get("Content-Encoding"))))
    client.fetch(client.list_instances(study), lambda ds: tmp_path)
    assert seen[0][0] != "identity"  # the QIDO listing: JSON, worth compressing
    assert seen[-2:] == [("identity", None), ("identity", None)]  # the two instances, as stored


def test_a_cancel_stops_the_retrieve_between_instances(client, orthanc, tmp_path):
    study, paths = make_study(tmp_path / "src", count=4)
    orthanc.upload(paths)
    got = []
    with pytest.raises(Cancelled):
        client.fetch(client.list_instances(study), lambda ds: got.append(ds) or tmp_path, Recorder(cancel_after=2))
    assert len(got) == 2


def test_stow_rs_stores_each_instance_with_its_own_result(client, orthanc, tmp_path):
    study, paths = make_study(tmp_path / "src", count=2)
    broken = tmp_path / "no-study.dcm"
    ds = dcmread(paths[1])
    del ds.StudyInstanceUID  # Orthanc refuses an instance without its study
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(broken)
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM")
    reporter = Recorder()
    results = client.store([paths[0], broken, text, paths[1]], reporter)
    assert [r.ok for r in results] == [True, False, False, True]
    assert reporter.fractions == [0.25, 0.5, 0.75, 1.0]
    assert results[0].sop_instance_uid == dcmread(paths[0]).SOPInstanceUID
    assert results[1].status == 400 and results[1].message.startswith("refused: HTTP 400")
    assert results[2].message.startswith("not a DICOM file")
    stored = {i["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.instances()}
    assert {dcmread(p).SOPInstanceUID for p in paths} <= stored
    assert ds.SOPInstanceUID not in stored
    assert len(client.list_instances(study)) == 2


def test_wrong_credentials_are_one_line_without_the_secret(orthanc, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "not-the-password-" + uuid.uuid4().hex
    web = WebClient(web_node(orthanc), secret)
    with pytest.raises(PacsRefusal) as caught:
        web.echo()
    message = str(caught.value)
    assert message == f"PACS node 'orthanc-web' ({orthanc.dicomweb_url}): wrong credentials (HTTP 401)"
    basic = base64.b64encode(f"{orthanc.username}:{secret}".encode()).decode()
    for text in (message, caplog.text):
        assert secret not in text and basic not in text


def test_a_bearer_token_is_sent_and_never_shown(orthanc, caplog):
    caplog.set_level(logging.DEBUG)
    token = "tok-" + uuid.uuid4().hex
    web = WebClient(web_node(orthanc, auth="bearer", username=""), token)
    assert repr(web.session.auth) == "_Bearer(<hidden>)"
    with pytest.raises(PacsError, match="wrong credentials"):  # Orthanc knows no tokens: it was sent and refused
        web.find_studies(StudyQuery(patient_id="X"))
    assert token not in caplog.text


def test_a_node_that_needs_a_secret_without_one_is_refused_at_once(orthanc):
    with pytest.raises(PacsError, match="needs a password and none was given"):
        WebClient(web_node(orthanc), None)


def test_a_closed_port_is_connection_refused(tmp_path):
    from viewer.bench.orthanc import free_port

    node = web_node_at(f"http://127.0.0.1:{free_port()}/dicom-web")
    with pytest.raises(PacsError, match=r"^PACS node 'orthanc-web' \(http://127.0.0.1:\d+/dicom-web\): "
                                        r"connection refused"):
        WebClient(node, "pw").echo()


def test_a_server_that_never_answers_is_a_timeout():
    with socket.socket() as silent:  # accepts connections (the kernel does) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        node = web_node_at(f"http://127.0.0.1:{silent.getsockname()[1]}/dicom-web", timeout=0.5)
        with pytest.raises(PacsError, match=r"no answer within 0.5 s \(timeout\)$"):
            WebClient(node, "pw").echo()


def test_a_url_with_credentials_in_it_never_shows_them():
    assert shown_url("https://user:hunter2@pacs.example/dicom-web") == "https://pacs.example/dicom-web"
    node = web_node_at("http://user:hunter2@127.0.0.1:9/dicom-web")
    with pytest.raises(PacsError) as caught:
        WebClient(node, "pw").echo()
    assert "hunter2" not in str(caught.value)


def web_node_at(url: str, **changes):
    from viewer.pacs.nodes import Node

    return Node(name="orthanc-web", kind="dicomweb", url=url, auth="basic", username="radcam",
                timeout=changes.pop("timeout", 5.0), **changes)


@pytest.fixture
def tls_orthanc(orthanc_factory, tmp_path):
    """An Orthanc behind HTTPS with a self-signed certificate made by openssl here; (server, certificate)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return orthanc_factory(tls=(cert, key)), cert


def test_tls_with_an_untrusted_certificate_is_refused_unless_its_ca_is_given(tls_orthanc, tmp_path):
    server, cert = tls_orthanc
    assert server.dicomweb_url.startswith("https://")
    study, paths = make_study(tmp_path / "src", count=1)
    server.upload(paths)
    with pytest.raises(PacsRefusal) as caught:
        WebClient(web_node(server), server.password).echo()
    assert str(caught.value) == (f"PACS node 'orthanc-web' ({server.dicomweb_url}): certificate not trusted: "
                                 "give the CA with --ca-file")
    with WebClient(web_node(server, ca_file=str(cert)), server.password) as trusting:
        trusting.echo()
        assert [m.study_uid for m in trusting.find_studies(StudyQuery(patient_id=dcmread(paths[0]).PatientID))] \
            == [study]
        got = []
        trusting.fetch(trusting.list_instances(study), lambda ds: got.append(ds) or tmp_path)
        assert got[0].SOPInstanceUID == dcmread(paths[0]).SOPInstanceUID
    with WebClient(web_node(server, verify_tls=False), server.password) as careless:  # the node's explicit choice
        careless.echo()
    with pytest.raises(PacsError, match="the CA file .* does not exist"):
        WebClient(web_node(server, ca_file=str(tmp_path / "absent.pem")), server.password)


def test_https_to_a_plain_http_server_is_a_clear_tls_error(orthanc):
    node = web_node(orthanc, url=orthanc.dicomweb_url.replace("http://", "https://"))
    with pytest.raises(PacsError, match=r"TLS handshake failed \(is it an https:// server\?\)$"):
        WebClient(node, orthanc.password).echo()


def test_a_failed_query_logs_no_patient_name_nor_id(caplog, monkeypatch):
    from viewer.bench.orthanc import free_port

    caplog.set_level(logging.WARNING)  # what radcam-cli keeps of the network libraries
    # `retrying` (under dicomweb-client) logs each failed attempt's traceback; an application may let it through
    monkeypatch.setattr(logging.getLogger("retrying"), "propagate", True)
    node = web_node_at(f"http://127.0.0.1:{free_port()}/dicom-web")
    with pytest.raises(PacsError) as caught:
        WebClient(node, "pw").find_studies(StudyQuery(patient_id="PID-SECRET-7", patient_name="Lovelace*"))
    for text in (str(caught.value), caplog.text):
        assert "PID-SECRET-7" not in text and "Lovelace" not in text
