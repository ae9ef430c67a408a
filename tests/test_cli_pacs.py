"""`radcam-cli pacs`: nodes and cache (no network), the arguments' one-line refusals, and echo/find/get/send against a
real Orthanc (the round trip through every transport is tests/test_pacs_roundtrip.py)."""

from __future__ import annotations

import io
import json
import logging
import os
import select
import subprocess
import sys
import time

import keyring
import numpy as np
import pytest
from conftest import MemoryKeyring, assert_one_line_error, needs_orthanc, run_cli, write_dicom
from keyring.backends import fail

from viewer.pacs.nodes import NodeStore


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    """Every test gets its own configuration and cache folders and no keyring (keyring's fail backend) nor
    remembered secret: never the user's folders or keyring."""
    from viewer.pacs import credentials

    monkeypatch.setenv("RADCAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(credentials, "_session", {})
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield tmp_path
    keyring.set_keyring(before)


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


# -- nodes ------------------------------------------------------------------------------------------------------


def test_nodes_add_list_remove_a_dimse_node(capsys, tmp_path):
    code, out, err = run_cli(capsys, "pacs", "nodes", "add", "main", "--ae-title", "ORTHANC", "--host", "pacs.local",
                             "--port", "4242", "--retrieve", "move", "--move-port", "11999", "--timeout", "5")
    assert code == 0, err
    assert "added PACS node main (dimse, ORTHANC@pacs.local:4242)" in out
    node = NodeStore(tmp_path / "config").get("main")
    assert (node.kind, node.ae_title, node.host, node.port, node.retrieve, node.move_port, node.timeout,
            node.our_ae_title) == ("dimse", "ORTHANC", "pacs.local", 4242, "move", 11999, 5.0, "RADCAM")
    code, out, _ = run_cli(capsys, "pacs", "nodes")
    assert code == 0 and out.startswith("main  dimse  ORTHANC@pacs.local:4242")
    assert "C-MOVE to port 11999" in out
    for argv in (("pacs", "nodes", "--json"), ("pacs", "nodes", "list", "--json")):
        code, out, _ = run_cli(capsys, *argv)
        assert code == 0 and json.loads(out)[0]["ae_title"] == "ORTHANC", argv
    code, out, _ = run_cli(capsys, "pacs", "nodes", "remove", "main")
    assert code == 0 and "removed PACS node main" in out
    assert NodeStore(tmp_path / "config").nodes == {}
    code, out, _ = run_cli(capsys, "pacs", "nodes", "list")
    assert code == 0 and "no PACS nodes configured" in out


def test_nodes_add_a_dicomweb_node_keeps_no_secret_in_the_file(capsys, monkeypatch, tmp_path):
    _stdin(monkeypatch, "s3cret-Pa55\n")
    code, out, err = run_cli(capsys, "pacs", "nodes", "add", "web", "--url", "https://pacs.local/dicom-web",
                             "--username", "reader", "--password-stdin", "--no-verify-tls")
    assert code == 0, err
    assert "added PACS node web (dicomweb, https://pacs.local/dicom-web)" in out
    node = NodeStore(tmp_path / "config").get("web")
    assert (node.auth, node.username, node.verify_tls) == ("basic", "reader", False)  # basic: a user name given
    config = (tmp_path / "config" / "pacs.json").read_text()
    assert "s3cret-Pa55" not in config and "s3cret-Pa55" not in out + err
    assert "no OS keyring" in err and "--password-stdin" in err  # the warning: the password was not kept
    code, out, _ = run_cli(capsys, "pacs", "nodes")
    assert "basic authentication as reader, TLS NOT VERIFIED" in out


def test_nodes_add_again_replaces_the_node(capsys, tmp_path):
    for port in ("104", "11112"):
        code, out, err = run_cli(capsys, "pacs", "nodes", "add", "main", "--ae-title", "PACS", "--host", "h",
                                 "--port", port)
        assert code == 0, err
    assert out.startswith("replaced PACS node main")
    assert NodeStore(tmp_path / "config").get("main").port == 11112


@pytest.mark.parametrize(("argv", "said"), [
    (("--url", "https://x/dicom-web", "--ae-title", "A"), "a DICOMweb node (--url) takes no --ae-title"),
    (("--ae-title", "A", "--host", "h"), "a DIMSE node needs --port"),
    (("--ae-title", "A", "--host", "h", "--port", "1", "--username", "u"), "--username belong to a DICOMweb node"),
    (("--ae-title", "WAY_TOO_LONG_AE_TITLE", "--host", "h", "--port", "1"), "must be 1-16 ASCII characters"),
    (("--url", "ftp://x"), "needs an http:// or https:// URL"),
    (("--url", "https://x", "--auth", "basic"), "basic authentication needs a user name"),
    (("--url", "https://x", "--ca-file", "/no/such/ca.pem"), "--ca-file /no/such/ca.pem: no such file"),
    (("--ae-title", "A", "--host", "h", "--port", "70000"), "a port is 1-65535"),
    (("--ae-title", "A", "--host", "h", "--port", "1", "--timeout", "0"), "the timeout must be more than 0 s"),
    (("--ae-title", "A", "--host", "h", "--port", "1", "--password-stdin"), "uses no authentication"),
])
def test_nodes_add_refuses_a_bad_node_in_one_line(capsys, tmp_path, argv, said):
    code, _out, err = run_cli(capsys, "pacs", "nodes", "add", "n", *argv)
    assert_one_line_error(code, err)
    assert said in err
    assert not (tmp_path / "config" / "pacs.json").exists()  # nothing half-written


def test_password_stdin_with_nothing_on_stdin_is_one_line(capsys, monkeypatch):
    _stdin(monkeypatch, "")
    code, _out, err = run_cli(capsys, "pacs", "nodes", "add", "web", "--url", "http://x/dicom-web", "--auth",
                              "bearer", "--password-stdin")
    assert_one_line_error(code, err)
    assert "stdin gave no token for PACS node 'web'" in err


def test_an_unconfigured_node_is_never_contacted(capsys, tmp_path):
    for argv in (("echo", "ghost"), ("find", "ghost"), ("get", "ghost", "1.2.3"), ("nodes", "remove", "ghost")):
        code, _out, err = run_cli(capsys, "pacs", *argv)
        assert_one_line_error(code, err)
        assert "no PACS node named 'ghost' (configured: none configured)" in err, argv
    # send checks the node before its files: nothing is read, nothing sent
    code, _out, err = run_cli(capsys, "pacs", "send", "ghost", tmp_path / "missing.dcm")
    assert_one_line_error(code, err)
    assert "no PACS node named 'ghost'" in err


def test_a_damaged_configuration_is_one_line(capsys, tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "pacs.json").write_text("{not json")
    code, _out, err = run_cli(capsys, "pacs", "nodes")
    assert_one_line_error(code, err)
    assert "cannot read the PACS configuration" in err


def _add_web(capsys, url="http://127.0.0.1:9/dicom-web", *extra):
    code, _out, err = run_cli(capsys, "pacs", "nodes", "add", "web", "--url", url, *extra)
    assert code == 0, err


def test_argument_errors_are_one_line(capsys):
    _add_web(capsys)
    run_cli(capsys, "pacs", "nodes", "add", "dimse", "--ae-title", "A", "--host", "127.0.0.1", "--port", "9")
    for argv, said in (
        (("get", "web", "1.2.3", "--via", "get"), "--via get needs a DIMSE node; web is a DICOMweb node"),
        (("get", "dimse", "1.2.3", "--via", "wado"), "--via wado needs a DICOMweb node"),
        (("find", "web", "--date", "2024-01-01"), "a date is YYYYMMDD or a range"),
        (("find", "web", "--date", "20240231"), "a date is YYYYMMDD"),
        (("find", "web", "--date", "20240301-20240101"), "ends before it starts"),
        (("find", "web", "--study", "1.2", "--patient-id", "x"), "--study lists one study's series"),
        (("cache", "--limit", "0"), "expected 1 or more, not 0"),
        (("send", "web"), "the following arguments are required: PATH"),
        (("pacs-typo",), "invalid choice"),
    ):
        code, _out, err = run_cli(capsys, "pacs", *argv)
        assert_one_line_error(code, err)
        assert said in err, (argv, err)


def test_date_ranges_parse_open_ends():
    from datetime import date

    from viewer.cli.pacs_cmd import _date_range

    assert _date_range("20240105") == (date(2024, 1, 5), date(2024, 1, 5))
    assert _date_range("20240101-20240131") == (date(2024, 1, 1), date(2024, 1, 31))
    assert _date_range("20240101-") == (date(2024, 1, 1), None)
    assert _date_range("-20240131") == (None, date(2024, 1, 31))


def test_a_node_that_needs_a_password_says_how_to_give_it(capsys, monkeypatch):
    """No keyring, stdin not a terminal, no --password-stdin: one line saying how, nothing contacted."""
    _add_web(capsys, "http://127.0.0.1:9/dicom-web", "--auth", "basic", "--username", "u")
    _stdin(monkeypatch, "")  # not a terminal
    code, _out, err = run_cli(capsys, "pacs", "echo", "web")
    assert_one_line_error(code, err)
    assert "radcam: error: PACS node 'web' (http://127.0.0.1:9/dicom-web): needs a password: give it with " \
        "--password-stdin" in err


def test_an_unreachable_node_is_one_line_naming_it(capsys):
    _add_web(capsys, "http://127.0.0.1:9/dicom-web")  # port 9: nobody listens
    run_cli(capsys, "pacs", "nodes", "add", "dimse", "--ae-title", "A", "--host", "127.0.0.1", "--port", "9",
            "--timeout", "3")
    for argv, address in ((("echo", "web"), "127.0.0.1:9"), (("echo", "dimse"), "A@127.0.0.1:9"),
                          (("find", "dimse", "--patient-id", "X"), "A@127.0.0.1:9")):
        code, _out, err = run_cli(capsys, "pacs", *argv)
        assert_one_line_error(code, err)
        assert address in err, (argv, err)


# -- send: what it takes ----------------------------------------------------------------------------------------


def test_send_refuses_missing_paths_and_folders_without_dicom(capsys, tmp_path):
    run_cli(capsys, "pacs", "nodes", "add", "dimse", "--ae-title", "A", "--host", "127.0.0.1", "--port", "9")
    code, _out, err = run_cli(capsys, "pacs", "send", "dimse", tmp_path / "nowhere.dcm")
    assert_one_line_error(code, err)
    assert "nowhere.dcm: no such file or folder" in err
    empty = tmp_path / "pngs"
    empty.mkdir()
    (empty / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    code, _out, err = run_cli(capsys, "pacs", "send", "dimse", empty)
    assert code == 2 and err.strip().splitlines()[-1].startswith("radcam: error: no DICOM file to send in")
    assert "1 file(s) that are not DICOM left out" in err


# -- cache ------------------------------------------------------------------------------------------------------


def _cached_study(cache_root, size: int):
    """A complete study in the cache, written through PacsCache as a retrieve would."""
    from viewer.pacs.cache import PacsCache
    from viewer.pacs.client import InstanceRef

    path = write_dicom(cache_root.parent / "src.dcm", np.zeros((size, size), np.uint16))
    from pydicom import dcmread

    ds = dcmread(path)
    cache = PacsCache(cache_root, limit_bytes=1 << 40)
    ref = InstanceRef(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.SOPClassUID)
    cache.begin(ref.study_uid, [ref])
    cache.put(ds)
    assert cache.complete(ref.study_uid)
    return ref.study_uid


def test_cache_reports_limits_and_clears(capsys, tmp_path):
    cache_root = tmp_path / "cache"
    old = _cached_study(cache_root, 800)  # 1.2 MB
    new = _cached_study(cache_root, 800)
    from viewer.pacs.cache import PacsCache

    PacsCache(cache_root).touch(new)  # the newer one is the most recently used
    code, out, err = run_cli(capsys, "pacs", "cache")
    assert code == 0, err
    assert f"cache: {cache_root}" in out and "2.4 MB of 5120 MB; 2 studies (2 complete, 0 partial)" in out
    code, out, err = run_cli(capsys, "pacs", "cache", "--limit", "2")
    assert code == 0, err
    assert "cache limit set to 2 MB (1.2 MB of least recently used studies removed)" in out
    assert not (cache_root / old).exists() and (cache_root / new).is_dir()
    assert NodeStore(tmp_path / "config").cache_limit_mb == 2
    code, out, _ = run_cli(capsys, "pacs", "cache", "--clear")
    assert code == 0 and "cleared the PACS cache" in out and "1.2 MB freed" in out
    assert "0.0 MB of 2 MB; 0 studies" in out
    assert not any(cache_root.iterdir())


# -- logging: nothing a network library says below WARNING is kept -------------------------------------------------


def test_network_loggers_stay_at_warning_while_a_command_runs(capsys, tmp_path):
    """Even with the root logger at DEBUG (an embedding application's), pynetdicom and urllib3 make no DEBUG
    record while radcam-cli runs, and their levels are restored after."""
    from viewer.cli.main import NETWORK_LOGGERS, warnings_to_log

    root = logging.getLogger()
    before = root.level
    chosen = {name: logging.getLogger(name).level for name in NETWORK_LOGGERS}
    root.setLevel(logging.DEBUG)
    log = tmp_path / "radcam.log"
    try:
        with warnings_to_log(log):
            for name in NETWORK_LOGGERS:
                logging.getLogger(name + ".child").debug("PatientName=Doe^Jane")
                logging.getLogger(name).info("PatientID=12345")
            logging.getLogger("pynetdicom.assoc").warning("association aborted")
    finally:
        root.setLevel(before)
    text = log.read_text()
    assert "Doe^Jane" not in text and "12345" not in text
    assert "association aborted" in text  # warnings still kept in the --log file
    assert "Doe^Jane" not in capsys.readouterr().err
    assert {name: logging.getLogger(name).level for name in NETWORK_LOGGERS} == chosen


# -- against a real Orthanc: a refusal and a retrieve cut half-way, as the CLI shows them -----------------------------


def _nodes_for(capsys, server) -> None:
    for argv in (("dimse", "--ae-title", server.aet, "--host", "127.0.0.1", "--port", server.dicom_port,
                  "--move-port", server.modalities["RADCAM"][1], "--timeout", "10"),
                 ("web", "--url", server.dicomweb_url, "--username", server.username, "--timeout", "10")):
        code, _out, err = run_cli(capsys, "pacs", "nodes", "add", *argv)
        assert code == 0, err


def _with_password(monkeypatch, server, node: str) -> tuple[str, ...]:
    if node != "web":
        return ()
    _stdin(monkeypatch, server.password + "\n")
    return ("--password-stdin",)


@needs_orthanc
@pytest.mark.parametrize("node", ["dimse", "web"])
def test_send_with_a_refused_instance_prints_each_result_and_exits_2(capsys, monkeypatch, orthanc, tmp_path, node):
    from pydicom import dcmread
    from pydicom.uid import generate_uid

    _nodes_for(capsys, orthanc)
    good = write_dicom(tmp_path / "good.dcm", np.zeros((8, 8), np.uint16))
    ds = dcmread(good)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    del ds.StudyInstanceUID  # Orthanc refuses an instance without its study
    broken = tmp_path / "broken.dcm"
    ds.save_as(broken)
    code, out, err = run_cli(capsys, "pacs", "send", node, good, broken, *_with_password(monkeypatch, orthanc, node))
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("stored") and "good.dcm" in lines[0], out
    assert lines[1].startswith("REFUSED") and "broken.dcm" in lines[1], out
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith(f"radcam: error: PACS node '{node}' (") and \
        last.endswith("): 1 of 2 instance(s) not stored (see the lines above)"), err
    assert "Traceback" not in err
    stored = {i["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.instances()}
    assert dcmread(good).SOPInstanceUID in stored and ds.SOPInstanceUID not in stored


@needs_orthanc
@pytest.mark.parametrize("via", ["get", "wado"])
def test_a_get_cut_by_a_killed_orthanc_is_one_line_partial_and_resumes(capsys, monkeypatch, orthanc_factory,
                                                                      tmp_path, via):
    """Orthanc killed after the second instance arrived: `pacs get` says so in one line (exit 2), `pacs cache`
    shows the study partial, and after a restart `pacs get` fetches only the missing instances."""
    from viewer.bench.retrieve import write_study
    from viewer.pacs.cache import PacsCache

    server = orthanc_factory()
    node = "web" if via == "wado" else "dimse"
    _nodes_for(capsys, server)
    paths = write_study(tmp_path / "study", count=4, size=256)
    server.upload(paths)
    from pydicom import dcmread

    study = dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID
    put = PacsCache.put
    arrived = []

    def put_then_kill(self, ds):  # the fault: the PACS dies half-way through a real transfer
        path = put(self, ds)
        arrived.append(path)
        if len(arrived) == 2:
            server.kill()
        return path

    monkeypatch.setattr(PacsCache, "put", put_then_kill)
    code, out, err = run_cli(capsys, "pacs", "get", node, study, "--via", via,
                             *_with_password(monkeypatch, server, node))
    errors = [line for line in err.splitlines() if line.startswith("radcam: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert "of 4 instances" in errors[0] and errors[0].endswith("retrieve again to resume"), errors[0]
    assert out == ""  # nothing claims the study is there
    code, out, _ = run_cli(capsys, "pacs", "cache")
    assert "1 study (0 complete, 1 partial)" in out
    monkeypatch.setattr(PacsCache, "put", put)
    server.restart()
    code, out, err = run_cli(capsys, "pacs", "get", node, study, "--via", via, "--json",
                             *_with_password(monkeypatch, server, node))
    assert code == 0, err
    got = json.loads(out)
    have = 4 - got["fetched"]
    assert got["complete"] and got["instances"] == 4 and got["reused"] == have and 2 <= have < 4, got
    code, out, _ = run_cli(capsys, "pacs", "cache")
    assert "1 study (1 complete, 0 partial)" in out


@needs_orthanc
def test_a_password_given_once_is_taken_from_the_keyring(capsys, monkeypatch, orthanc):
    """`nodes add --password-stdin` puts it in the OS keyring (a real backend class kept in memory here); echo
    then needs no password; `nodes remove` takes it out of the keyring."""
    from viewer.pacs.credentials import SERVICE

    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    _stdin(monkeypatch, orthanc.password + "\n")
    code, out, err = run_cli(capsys, "pacs", "nodes", "add", "web", "--url", orthanc.dicomweb_url, "--username",
                             orthanc.username, "--password-stdin")
    assert code == 0, err
    assert "its password is in the OS keyring" in out and orthanc.password not in out + err
    assert backend.items == {(SERVICE, f"web:{orthanc.username}"): orthanc.password}
    _stdin(monkeypatch, "")  # nothing to read, not a terminal: the keyring must answer
    code, out, err = run_cli(capsys, "pacs", "echo", "web")
    assert code == 0 and out.startswith("web: echo ok"), err
    code, out, err = run_cli(capsys, "pacs", "nodes", "remove", "web")
    assert code == 0, err
    assert backend.items == {}


@needs_orthanc
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_on_a_terminal_the_password_is_asked_without_echo(orthanc, tmp_path):
    """No keyring, no --password-stdin, stdin a terminal: a getpass prompt naming the node, the answer not echoed."""
    env = {**os.environ, "RADCAM_CONFIG_DIR": str(tmp_path / "config"), "RADCAM_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    cli = [sys.executable, "-m", "viewer.cli"]
    subprocess.run([*cli, "pacs", "nodes", "add", "web", "--url", orthanc.dicomweb_url, "--username",
                    orthanc.username], env=env, check=True, capture_output=True)
    master, slave = os.openpty()
    child = subprocess.Popen([*cli, "pacs", "echo", "web"], env=env, stdin=slave, stdout=subprocess.PIPE,
                             stderr=slave, start_new_session=True)
    os.close(slave)
    said = b""
    deadline = time.monotonic() + 60
    while b"Password for" not in said and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            said += os.read(master, 1024)
    os.write(master, orthanc.password.encode() + b"\n")
    out, _ = child.communicate(timeout=60)
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            break
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        said += chunk
    os.close(master)
    assert f"Password for {orthanc.username}@web ({orthanc.dicomweb_url}): ".encode() in said, said
    assert orthanc.password.encode() not in said + out  # not echoed, not printed
    assert child.returncode == 0 and out.decode().startswith("web: echo ok"), (out, said)
