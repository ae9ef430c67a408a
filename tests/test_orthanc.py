"""The Orthanc launcher (viewer.bench.orthanc) that every PACS test, the retrieve benchmark and the screenshots use:
it starts fast on free ports, demands authentication, stores and returns instances byte for byte, survives a kill
with its storage, speaks HTTPS when given a certificate, and says why when Orthanc is missing."""

from __future__ import annotations

import io
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from conftest import dimse_node, needs_orthanc, web_node, write_dicom
from pydicom import dcmread

from viewer.bench import orthanc as launcher
from viewer.bench.orthanc import Orthanc, orthanc_available

pytestmark = needs_orthanc


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_starts_within_seconds_on_free_ports_with_its_log_in_the_workdir(orthanc_factory, tmp_path):
    began = time.monotonic()
    server = orthanc_factory()
    assert time.monotonic() - began < 10
    assert server.dicom_port != server.http_port
    assert _answers(server.dicom_port) and _answers(server.http_port)
    assert server.url == f"http://127.0.0.1:{server.http_port}"
    assert server.dicomweb_url == server.url + "/dicom-web"
    assert server.log_path.is_relative_to(tmp_path) and server.log_path.stat().st_size > 0
    # The configuration holds the password: only its owner reads it.
    assert server.config_path.stat().st_mode & 0o077 == 0


def test_authentication_is_on(orthanc):
    assert requests.get(orthanc.url + "/system", timeout=10).status_code == 401
    assert requests.get(orthanc.url + "/system", auth=(orthanc.username, "wrong"), timeout=10).status_code == 401
    assert requests.get(orthanc.url + "/system", auth=(orthanc.username, orthanc.password), timeout=10).ok
    assert requests.get(orthanc.dicomweb_url + "/studies", timeout=10).status_code == 401


def test_upload_lists_and_returns_the_same_bytes(orthanc, tmp_path):
    path = write_dicom(tmp_path / "a.dcm", np.arange(64, dtype=np.uint16).reshape(8, 8), PatientID="LAUNCH1")
    (orthanc_id,) = orthanc.upload([path])
    listed = {item["ID"]: item for item in orthanc.instances()}
    sop_uid = dcmread(path).SOPInstanceUID
    assert listed[orthanc_id]["MainDicomTags"]["SOPInstanceUID"] == sop_uid
    assert dcmread(io.BytesIO(orthanc.instance_file(orthanc_id))).SOPInstanceUID == sop_uid
    # DICOMweb answers through the plugin, with the same credentials.
    studies = requests.get(orthanc.dicomweb_url + "/studies", params={"PatientID": "LAUNCH1"},
                           auth=(orthanc.username, orthanc.password), timeout=10)
    assert studies.ok and len(studies.json()) == 1


def test_kill_then_restart_keeps_storage_and_ports(orthanc_factory, tmp_path):
    server = orthanc_factory()
    (orthanc_id,) = server.upload([write_dicom(tmp_path / "k.dcm", np.zeros((4, 4), np.uint8))])
    ports = server.dicom_port, server.http_port
    server.kill()
    assert not server.running and not _answers(server.http_port)
    server.restart()
    assert (server.dicom_port, server.http_port) == ports
    assert [item["ID"] for item in server.instances()] == [orthanc_id]


def test_context_manager_stops_it(tmp_path):
    with Orthanc(tmp_path / "o", password="secret-pw") as server:
        port = server.http_port
        assert server.password == "secret-pw"
        assert _answers(port)
    assert not server.running
    assert not _answers(port)


def test_a_random_password_unless_given(tmp_path):
    assert Orthanc(tmp_path / "a").password != Orthanc(tmp_path / "b").password


def test_https_with_a_certificate(orthanc_factory, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)
    server = orthanc_factory(tls=(cert, key))
    assert server.url.startswith("https://")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url + "/system", auth=(server.username, server.password), timeout=10)
    assert requests.get(server.url + "/system", auth=(server.username, server.password), verify=str(cert),
                        timeout=10).ok


def test_nodes_for_it(orthanc):
    dimse = dimse_node(orthanc)
    assert (dimse.ae_title, dimse.port, dimse.our_ae_title) == (orthanc.aet, orthanc.dicom_port, "RADCAM")
    assert dimse.move_port == orthanc.modalities["RADCAM"][1]
    web = web_node(orthanc, name="other")
    assert (web.url, web.auth, web.username, web.name) == (orthanc.dicomweb_url, "basic", orthanc.username, "other")


def test_says_why_when_orthanc_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(launcher, "BINARY", str(tmp_path / "no-orthanc"))
    assert "Orthanc is not installed" in (orthanc_available() or "")
    monkeypatch.setattr(launcher, "BINARY", "/bin/true")
    monkeypatch.setattr(launcher, "DICOMWEB_PLUGIN", Path(tmp_path / "none.so"))
    assert "DICOMweb plugin" in (orthanc_available() or "")
    with pytest.raises(launcher.OrthancError, match="DICOMweb plugin"):
        Orthanc(tmp_path / "o").start()
