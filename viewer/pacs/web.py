"""A DICOMweb node through dicomweb-client: QIDO-RS to search (and to echo), WADO-RS to retrieve one instance at a
time (progress and cancel between instances), STOW-RS to store, one instance per request so that each has its own
result and a transient failure costs only that instance's retry. Authentication (basic or a bearer token) and TLS
verification live on the requests Session; no secret ever reaches a message or a log line of ours."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError

from viewer.errors import PacsError
from viewer.progress import QUIET, Cancelled, Reporter

from .client import (
    InstanceRef,
    OnInstance,
    SendResult,
    SeriesMatch,
    StudyMatch,
    StudyQuery,
    integer,
    series_match,
    study_match,
    text,
    where,
)
from .nodes import Node
from .send import PacsRefusal

T = TypeVar("T")
STUDY_FIELDS = ("StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                "NumberOfStudyRelatedInstances", "AccessionNumber", "StudyDate")
SERIES_FIELDS = ("SeriesDescription", "SeriesNumber", "Modality", "NumberOfSeriesRelatedInstances")
INSTANCE_FIELDS = ("SeriesInstanceUID", "SOPClassUID")
# STOW-RS Failure Reasons (PS3.18 table I.2-1, PS3.4 C-STORE statuses) worth a word rather than a number.
FAILURE_REASONS = {0xA700: "out of resources", 0xA900: "data set does not match its SOP class",
                   0xC000: "cannot understand", 0x0110: "processing failure", 0x0122: "SOP class not supported",
                   0x0124: "not authorised"}


class _Bearer(requests.auth.AuthBase):
    """A bearer token on each request (kept off the session's headers, which dicomweb-client logs may show)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(<hidden>)"


class _Session(requests.Session):
    """Wildcards (* and ?) go unescaped in the query string, as RFC 3986 allows there: dicomweb-client escapes them
    (%2A, %3F) and some servers (Orthanc 1.10's DICOMweb plugin) do not unescape them, so no wildcard ever matched.
    Instances (WADO-RS, multipart) are asked for without gzip: pixel data shrinks little, and the server's gzip made
    a local Orthanc's retrieve of a real 1 MB DX chest 4.5 times slower (117 against 26 ms; JPEG 2000: 35 vs 15)."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if request.url and "?" in request.url:
            base, query = request.url.split("?", 1)
            request.url = f"{base}?{query.replace('%2A', '*').replace('%3F', '?')}"
        if str(request.headers.get("Accept", "")).startswith("multipart/related"):
            request.headers["Accept-Encoding"] = "identity"
        return super().send(request, **kwargs)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own `verify` (psf/requests#3829):
        # the node's CA file or its "no verification" must win; the environment's bundle serves the default only.
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings


def _json_datasets(items: list[dict[str, Any]]) -> list[Dataset]:
    return [Dataset.from_json(item) for item in items]


class WebClient:
    """One DICOMweb node (see PacsClient). `secret`: the password (basic) or token (bearer) when the node needs one."""

    def __init__(self, node: Node, secret: str | None = None) -> None:
        if node.kind != "dicomweb":
            raise PacsError(f"{where(node)}: not a DICOMweb node")
        self.node = node
        self.where = where(node)
        if node.needs_secret and not secret:
            what = "token" if node.auth == "bearer" else "password"
            raise PacsError(f"{self.where}: needs a {what} and none was given")
        session = _Session()
        if node.auth == "basic":
            session.auth = requests.auth.HTTPBasicAuth(node.username, secret or "")
        elif node.auth == "bearer":
            session.auth = _Bearer(secret or "")
        if not node.verify_tls:
            session.verify = False
            import urllib3  # requests' own transport: silence only its "unverified HTTPS" warning the node asked for

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        elif node.ca_file:
            if not Path(node.ca_file).is_file():
                raise PacsError(f"{self.where}: the CA file {node.ca_file} does not exist")
            session.verify = node.ca_file
        self.session = session
        try:
            # "…/dicom-web/" as pasted from a browser would make "…/dicom-web//studies", which some servers refuse
            self.web = DICOMwebClient(node.url.rstrip("/"), session=session, timeout=node.timeout)
        except ValueError:
            raise PacsError(f"{self.where}: not a usable DICOMweb URL") from None
        self.web.set_http_retry_params(retry=False)  # retries are send()'s and retrieve's to decide, visibly

    # -- failures: one line, naming the node, never a secret or a patient

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, requests.exceptions.SSLError):
            if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
                return "certificate not trusted: give the CA with --ca-file"
            return "TLS handshake failed (is it an https:// server?)"
        if isinstance(exc, requests.exceptions.Timeout):
            return f"no answer within {self.node.timeout:g} s (timeout)"
        if isinstance(exc, requests.exceptions.ConnectionError):
            text = str(exc)
            if any(sign in text for sign in ("Connection refused", "Errno 111", "actively refused", "10061")):
                return "connection refused (is the server running, is the URL right?)"
            if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
                return "unknown host"
            return "connection lost"
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return "connection lost"
        if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
            return self._http_reason(exc.response.status_code, exc.response.reason)
        if isinstance(exc, requests.exceptions.RequestException):
            return f"request failed ({type(exc).__name__})"
        if isinstance(exc, (ValueError, InvalidDicomError, KeyError)):
            return f"the answer is not DICOMweb ({type(exc).__name__})"
        return f"{type(exc).__name__}"

    @staticmethod
    def _http_reason(status: int, reason: str | None) -> str:
        if status in (401, 403):
            return f"wrong credentials (HTTP {status})"
        if status == 404:
            return "not found (HTTP 404): is the URL the DICOMweb root, is the study still there?"
        return f"HTTP {status} {reason or ''}".strip()

    def _error(self, exc: BaseException) -> PacsError:
        """The one-line error for `exc`; PacsRefusal when trying again cannot help (credentials, certificate)."""
        response = getattr(exc, "response", None)
        final = isinstance(exc, requests.exceptions.SSLError) or (
            response is not None and response.status_code in (401, 403))
        return (PacsRefusal if final else PacsError)(f"{self.where}: {self._reason(exc)}")

    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except (requests.exceptions.RequestException, ValueError, InvalidDicomError, KeyError) as exc:
            raise self._error(exc) from None

    # -- the PacsClient protocol

    def echo(self) -> None:
        """A QIDO search for one study: the URL, the credentials and TLS all answer."""
        self._call(lambda: self.web.search_for_studies(limit=1))

    def find_studies(self, query: StudyQuery) -> list[StudyMatch]:
        filters = {keyword: value for keyword, value in (
            # "^" and " " become the one-character wildcard: escaped in the URL, Orthanc would match them literally
            ("PatientID", query.patient_id), ("PatientName", query.patient_name.replace("^", "?").replace(" ", "?")),
            ("AccessionNumber", query.accession), ("StudyDate", query.date_range()),
            ("ModalitiesInStudy", query.modality)) if value}
        found = self._call(lambda: _json_datasets(self.web.search_for_studies(
            fields=STUDY_FIELDS, search_filters=filters)))
        matches = [study_match(ds) for ds in found]
        return [match for match in matches if match.study_uid]

    def find_series(self, study_uid: str) -> list[SeriesMatch]:
        found = self._call(lambda: _json_datasets(self.web.search_for_series(
            study_instance_uid=study_uid, fields=SERIES_FIELDS)))
        return [match for match in (series_match(study_uid, ds) for ds in found) if match.series_uid]

    def list_instances(self, study_uid: str, series_uid: str | None = None) -> list[InstanceRef]:
        """Every instance, page after page (a server may cap one answer), stopping when a page brings nothing new
        (a server that ignores the offset)."""
        refs: dict[str, InstanceRef] = {}
        while True:
            page = self._call(lambda: _json_datasets(self.web.search_for_instances(
                study_instance_uid=study_uid, series_instance_uid=series_uid, fields=INSTANCE_FIELDS,
                offset=len(refs) or None)))
            new = 0
            for ds in page:
                sop = text(ds, "SOPInstanceUID")
                if sop and sop not in refs:
                    refs[sop] = InstanceRef(study_uid, text(ds, "SeriesInstanceUID") or (series_uid or ""), sop,
                                            text(ds, "SOPClassUID"))
                    new += 1
            if not new:
                return list(refs.values())

    def fetch(self, wanted: Sequence[InstanceRef], on_instance: OnInstance, reporter: Reporter = QUIET) -> None:
        """WADO-RS, one instance per request, in whatever transfer syntax the server holds it."""
        for done, ref in enumerate(wanted):
            if reporter.cancelled():
                raise Cancelled()
            ds = self._call(lambda ref=ref: self.web.retrieve_instance(  # type: ignore[misc]
                ref.study_uid, ref.series_uid, ref.sop_instance_uid))
            on_instance(ds)
            reporter.progress((done + 1) / len(wanted))

    def store(self, paths: Sequence[Path], reporter: Reporter = QUIET) -> list[SendResult]:
        """STOW-RS, one instance per request; a refusal is that instance's result, a lost connection a PacsError."""
        results = []
        for done, path in enumerate(paths):
            if reporter.cancelled():
                raise Cancelled()
            results.append(self._store_one(Path(path)))
            reporter.progress((done + 1) / len(paths))
        return results

    def _store_one(self, path: Path) -> SendResult:
        try:
            ds = dcmread(path)
        except (OSError, InvalidDicomError) as exc:
            return SendResult(path, "", False, None, f"not a DICOM file ({type(exc).__name__})")
        sop = text(ds, "SOPInstanceUID")
        answer: Dataset | None
        try:
            answer = self.web.store_instances([ds])
            status, said = 200, "OK"
        except requests.exceptions.HTTPError as exc:
            if exc.response is None or exc.response.status_code in (401, 403):
                raise self._error(exc) from None
            status, said = exc.response.status_code, exc.response.reason
            answer = _answer(exc.response)
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise self._error(exc) from None
        return self._result(path, sop, status, said, answer)

    def _result(self, path: Path, sop: str, status: int, said: str | None, answer: Dataset | None) -> SendResult:
        """This instance's outcome from the response's Referenced and Failed SOP Sequences (PS3.18 10.5.3)."""
        for item in (answer or Dataset()).get("FailedSOPSequence", []):
            if text(item, "ReferencedSOPInstanceUID") in (sop, ""):
                code = integer(item, "FailureReason")
                why = FAILURE_REASONS.get(code or -1, "refused")
                reason = f"{why} (failure reason 0x{code:04X})" if code is not None else why
                return SendResult(path, sop, False, status if status >= 400 else 409, f"refused: {reason}")
        for item in (answer or Dataset()).get("ReferencedSOPSequence", []):
            if text(item, "ReferencedSOPInstanceUID") == sop:
                warning = integer(item, "WarningReason")
                message = f"stored with warning 0x{warning:04X}" if warning else "stored"
                return SendResult(path, sop, True, status, message)
        if status < 300:
            return SendResult(path, sop, True, status, "stored")
        return SendResult(path, sop, False, status, f"refused: {self._http_reason(status, said)}")

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> WebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _answer(response: requests.Response) -> Dataset | None:
    """The STOW-RS response body of a refusal (DICOM JSON), if it has one."""
    try:
        if "json" in response.headers.get("Content-Type", ""):
            return Dataset.from_json(json.loads(response.content))
    except (ValueError, TypeError, KeyError):
        pass
    return None
