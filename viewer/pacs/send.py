"""Sending files to a node, whatever the protocol: every file checked as DICOM before anything goes out, then one
instance at a time so that each has its own result. A transient failure (the connection lost, an association refused
or aborted, C-STORE 0xA7xx out of resources, HTTP 5xx, 408, 429, a timeout) is retried after a growing pause on a
fresh connection; a refusal (C-STORE 0xA9xx/0xCxxx, HTTP 4xx) is that instance's result, never retried."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from viewer.errors import PacsError
from viewer.progress import QUIET, Cancelled, Muted, Reporter

from .client import PacsClient, SendResult

BACKOFF_S = 0.5  # the first pause; each retry waits twice as long as the last


class PacsRefusal(PacsError):
    """A failure that retrying cannot mend (wrong credentials, an untrusted certificate): a client raises it so
    that send() stops at once instead of retrying."""


class SendStopped(PacsError):
    """Sending stopped before every instance had its result; `results` holds those that had one."""

    def __init__(self, message: str, results: list[SendResult]) -> None:
        super().__init__(message)
        self.results = results


def transient(result: SendResult, kind: str) -> bool:
    """Whether a failed instance is worth another try: the DICOM status (DIMSE) or HTTP status (DICOMweb) says the
    node is busy or short of resources now, or there is no status at all (the connection went)."""
    if result.ok:
        return False
    if result.status is None:
        return True
    if kind == "dimse":
        return result.status & 0xFF00 == 0xA700
    return result.status >= 500 or result.status in (408, 429)


def check_dicom(paths: Sequence[Path]) -> None:
    """Refuse the whole send, before anything is sent, when one file is not a DICOM instance."""
    for path in paths:
        try:
            ds = dcmread(path, stop_before_pixels=True)
            ok = bool(ds.get("SOPInstanceUID")) and bool(ds.get("SOPClassUID"))
        except (OSError, InvalidDicomError, ValueError, TypeError, AttributeError, KeyError):
            ok = False
        if not ok:
            raise PacsError(f"{Path(path).name} is not a DICOM instance (no SOP Class and Instance UIDs): "
                            "nothing was sent")


def _pause(seconds: float, reporter: Reporter) -> None:
    """Wait, but notice a cancel within a tenth of a second."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if reporter.cancelled():
            raise Cancelled()
        time.sleep(min(0.1, left))


def send(client: PacsClient, paths: Sequence[Path], reporter: Reporter = QUIET, retries: int = 3,
         backoff_s: float = BACKOFF_S) -> list[SendResult]:
    """Each file to `client`'s node; one SendResult per file, in order, with the attempts it took. The client is
    closed before each retry (the next store() connects afresh). Raises SendStopped when the node stays unreachable
    after the retries, PacsError for a file that is not DICOM, Cancelled between instances."""
    paths = [Path(p) for p in paths]
    check_dicom(paths)
    results: list[SendResult] = []
    for index, path in enumerate(paths):
        attempt = 0
        while True:
            if reporter.cancelled():
                raise Cancelled()
            attempt += 1
            try:
                [result] = client.store([path], Muted(reporter))
            except PacsRefusal as exc:
                raise SendStopped(_stopped(results, len(paths), exc), results) from None
            except PacsError as exc:
                if attempt > retries:
                    raise SendStopped(_stopped(results, len(paths), exc), results) from None
                result = SendResult(path, "", False, None, str(exc))
            if result.ok or not transient(result, client.node.kind) or attempt > retries:
                results.append(replace(result, path=path, attempts=attempt))
                break
            client.close()
            _pause(backoff_s * 2 ** (attempt - 1), reporter)
        reporter.progress((index + 1) / len(paths))
    return results


def _stopped(results: list[SendResult], total: int, exc: PacsError) -> str:
    stored = sum(result.ok for result in results)
    return f"sending stopped after {stored} of {total} instances were stored: {exc}"
