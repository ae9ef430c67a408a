"""The one local Orthanc that the tests, the retrieve benchmark and the screenshot scripts start: Debian's Orthanc
with its DICOMweb plugin on 127.0.0.1, free ports, a temporary JSON configuration with authentication on, its
storage and log in a work folder. Nothing here is used by RadCAM itself.

    with Orthanc(tmp_path / "orthanc") as pacs:
        pacs.upload([path])
        node = Node("local", "dimse", ae_title=pacs.aet, host="127.0.0.1", port=pacs.dicom_port)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from .tls_front import TlsFront

BINARY = os.environ.get("RADCAM_ORTHANC", "/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path(os.environ.get("RADCAM_ORTHANC_DICOMWEB", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"))
START_TIMEOUT = 10.0
HOST = "127.0.0.1"


def orthanc_available() -> str | None:
    """None when Orthanc and its DICOMweb plugin are installed; else why not (a test's skip reason)."""
    binary = shutil.which(BINARY) if not os.path.isabs(BINARY) else (BINARY if os.access(BINARY, os.X_OK) else None)
    if not binary:
        return f"Orthanc is not installed ({BINARY} missing; Debian package 'orthanc')"
    if not DICOMWEB_PLUGIN.exists():
        return f"Orthanc's DICOMweb plugin is not installed ({DICOMWEB_PLUGIN} missing; Debian 'orthanc-dicomweb')"
    return None


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's choice), for a server to bind next."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class OrthancError(RuntimeError):
    """Orthanc would not start or answer (its log's tail says why)."""


class Orthanc:
    """A private Orthanc: `start()` picks free ports and waits until DIMSE and HTTP answer (at most 10 s),
    `stop()` ends it cleanly, `kill()` with SIGKILL (fault tests), `restart()` brings it back on the same storage
    and ports. Calling AE titles outside `modalities` are refused (no DicomAlwaysAllow*), as is a wrong called AE."""

    def __init__(self, workdir: Path, *, username: str = "radcam", password: str | None = None,
                 tls: tuple[Path, Path] | None = None, modalities: dict[str, tuple[str, int]] | None = None,
                 aet: str = "ORTHANC") -> None:
        self.workdir = Path(workdir)
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(12)
        self.tls = tls
        self.modalities = dict(modalities or {})
        self.aet = aet
        self.dicom_port = 0
        self.http_port = 0  # what clients use (the TLS front's port under tls)
        self.backend_port = 0  # Orthanc's own HTTP port
        self.front: TlsFront | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "orthanc.log"  # Orthanc's own log; its stdout/stderr go to orthanc.out
        self.config_path = self.workdir / "orthanc.json"

    # -- life cycle --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return self.url + "/dicom-web"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def configuration(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "Name": "RadCAM test PACS",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "storage"),
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "HttpPort": self.backend_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: self.password},
            "DicomModalities": {name: [name, host, port] for name, (host, port) in self.modalities.items()},
            "DicomCheckCalledAet": True,
            # Only the configured modalities may associate: an unknown calling AE title is refused.
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowGet": False,
            "DicomAlwaysAllowMove": False,
            # Close our C-MOVE destination's association at once, so that its Storage SCP can stop.
            "DicomAssociationCloseDelay": 0,
            "DeidentifyLogs": True,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        return config

    def start(self) -> Orthanc:
        why = orthanc_available()
        if why:
            raise OrthancError(why)
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.dicom_port:
            ports: set[int] = set()
            while len(ports) < 3:
                ports.add(free_port())
            self.dicom_port, self.http_port, self.backend_port = sorted(ports)
            if not self.tls:
                self.backend_port = self.http_port
        self.config_path.write_text(json.dumps(self.configuration(), indent=2), encoding="utf-8")
        self.config_path.chmod(0o600)  # it holds the test password
        with open(self.workdir / "orthanc.out", "ab") as log:
            self.process = subprocess.Popen(
                [BINARY, str(self.config_path), f"--logfile={self.log_path}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                start_new_session=True)  # a Ctrl-C meant for pytest does not reach it half-way
        if self.tls:
            # Orthanc's own HTTPS crashes (see tls_front): TLS ends in front of it.
            self.front = TlsFront(self.http_port, self.backend_port, *self.tls)
            self.front.start()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                raise OrthancError(f"Orthanc exited at start: {self.log_tail()}")
            if _port_answers(self.dicom_port) and self._http_answers():
                return
            time.sleep(0.05)
        self.kill()
        raise OrthancError(f"Orthanc did not answer within {START_TIMEOUT:.0f} s: {self.log_tail()}")

    def _http_answers(self) -> bool:
        if not _port_answers(self.http_port):
            return False
        try:
            return self._get("/system", timeout=1).ok
        except Exception:  # noqa: BLE001 - not up yet, whatever requests says
            return False

    def log_tail(self, lines: int = 5) -> str:
        texts = []
        for path in (self.workdir / "orthanc.out", self.log_path):
            if path.exists():
                texts += path.read_text(encoding="utf-8", errors="replace").splitlines()
        return " | ".join(texts[-lines:]) or "(no log)"

    def _stop_front(self) -> None:
        if self.front is not None:
            self.front.stop()
            self.front = None

    def stop(self) -> None:
        self._stop_front()
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled cable would end it (fault tests)."""
        self._stop_front()
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> Orthanc:
        """The same storage and ports again (after stop() or kill())."""
        self.stop()
        return self.start()

    def __enter__(self) -> Orthanc:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    # -- REST ------------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        with warnings.catch_warnings():
            # A test's self-signed certificate: the launcher only talks to its own server.
            warnings.simplefilter("ignore")
            return requests.request(method, self.url + path, auth=(self.username, self.password),
                                    verify=False, timeout=kwargs.pop("timeout", 30), **kwargs)

    def _get(self, path: str, **kwargs: Any) -> Any:
        return self._request("GET", path, **kwargs)

    def upload(self, paths: Iterable[Path]) -> list[str]:
        """Each file through REST (POST /instances); Orthanc's instance ids, in order."""
        ids = []
        for path in paths:
            answer = self._request("POST", "/instances", data=Path(path).read_bytes())
            answer.raise_for_status()
            ids.append(str(answer.json()["ID"]))
        return ids

    def instances(self) -> list[dict[str, Any]]:
        """Every stored instance with its MainDicomTags (and ParentSeries, FileSize...)."""
        answer = self._get("/instances", params={"expand": ""})
        answer.raise_for_status()
        return list(answer.json())

    def instance_file(self, orthanc_id: str) -> bytes:
        answer = self._get(f"/instances/{orthanc_id}/file")
        answer.raise_for_status()
        return bytes(answer.content)

    def delete_instance(self, orthanc_id: str) -> None:
        self._request("DELETE", f"/instances/{orthanc_id}").raise_for_status()
