"""Retrieve into the cache and send, against a real Orthanc of each test's own that is killed half-way: the study is
left partial (never complete), the error says how far it got, and the next retrieve fetches only what was missing,
over WADO-RS and DIMSE (C-GET, C-MOVE). Sending: per-instance results, a refusal reported and not retried, a file that
is not DICOM refused before anything goes out, Orthanc stopped mid-send (an error naming how far it got) and
restarted during the back-off (the retry succeeds)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import dimse_node, needs_orthanc, web_node, write_dicom
from pydicom import dcmread
from pydicom.uid import generate_uid

from viewer.errors import PacsError
from viewer.pacs.cache import MB, PacsCache
from viewer.pacs.client import SendResult, open_client
from viewer.pacs.retrieve import retrieve
from viewer.pacs.send import SendStopped, send, transient
from viewer.progress import Cancelled

pytestmark = needs_orthanc
COUNT = 8


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("RADCAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "cache"))


def make_study(folder: Path, count: int = COUNT, series: int = 2, size: int = 64) -> tuple[str, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    study, patient = generate_uid(), f"E3-{uuid.uuid4().hex[:10]}"
    series_uids = [generate_uid() for _ in range(series)]
    return study, [write_dicom(folder / f"{n}.dcm", np.full((size, size), n, np.uint16), StudyInstanceUID=study,
                               SeriesInstanceUID=series_uids[n % series], InstanceNumber=n + 1, PatientID=patient)
                   for n in range(count)]


class OnProgress:
    """A reporter that does `action` once, when the work is at least `at` done, and can be told to cancel."""

    def __init__(self, at: float = 2.0, action=None, cancel_at: float = 2.0) -> None:
        self.at, self.action, self.cancel_at = at, action, cancel_at
        self.last = 0.0

    def progress(self, fraction: float) -> None:
        self.last = fraction
        if self.action is not None and fraction >= self.at:
            action, self.action = self.action, None
            action()

    def cancelled(self) -> bool:
        return self.last >= self.cancel_at


def client_for(server, via: str):
    if via == "wado":
        return open_client(web_node(server), server.password)
    return open_client(dimse_node(server), retrieve=via)  # type: ignore[arg-type]


@pytest.mark.parametrize("via", ["wado", "get", "move"])
def test_a_retrieve_stopped_by_a_killed_orthanc_stays_partial_and_resumes_with_only_what_was_missing(
        orthanc_factory, tmp_path, via):
    server = orthanc_factory()
    study, paths = make_study(tmp_path / "src")
    server.upload(paths)
    cache = PacsCache(tmp_path / "cache", limit_bytes=100 * MB)
    with client_for(server, via) as client, pytest.raises(PacsError) as caught:
        retrieve(client, cache, study, reporter=OnProgress(at=0.5, action=server.kill))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("retrieve stopped after ") and message.endswith("; retrieve again to resume")
    have = len(cache.paths(study))
    assert 0 < have < COUNT, message
    assert f"after {have} of {COUNT} instances" in message
    assert not cache.is_complete(study)
    [entry] = cache.studies()
    assert not entry.complete and not entry.retrieving  # stopped: partial, and not pinned as being retrieved

    server.restart()
    with client_for(server, via) as client:
        result = retrieve(client, cache, study)
    assert (result.fetched, result.reused, result.complete) == (COUNT - have, have, True)
    assert cache.is_complete(study)
    assert sorted(dcmread(p).SOPInstanceUID for p in result.paths) == sorted(dcmread(p).SOPInstanceUID
                                                                             for p in paths)
    assert result.bytes == sum(p.stat().st_size for p in result.paths)


def test_a_retrieve_again_reuses_the_cache_and_one_series_is_enough(orthanc, tmp_path):
    study, paths = make_study(tmp_path / "src")
    orthanc.upload(paths)
    cache = PacsCache(tmp_path / "cache", limit_bytes=100 * MB)
    with client_for(orthanc, "wado") as client:
        series = client.find_series(study)[0]
        first = retrieve(client, cache, study, series.series_uid)
        assert (first.fetched, first.reused, first.complete) == (COUNT // 2, 0, True)
        assert {p.parent.name for p in first.paths} == {series.series_uid}
        whole = retrieve(client, cache, study)
        assert (whole.fetched, whole.reused) == (COUNT // 2, COUNT // 2)
        again = retrieve(client, cache, study)
        assert (again.fetched, again.reused, again.complete) == (0, COUNT, True)


def test_a_cancelled_retrieve_is_partial_and_cancelled_passes_through(orthanc, tmp_path):
    study, paths = make_study(tmp_path / "src")
    orthanc.upload(paths)
    cache = PacsCache(tmp_path / "cache", limit_bytes=100 * MB)
    with client_for(orthanc, "wado") as client:
        with pytest.raises(Cancelled):
            retrieve(client, cache, study, reporter=OnProgress(cancel_at=0.5))
        assert not cache.is_complete(study)
        assert 0 < len(cache.paths(study)) < COUNT
        assert not cache.studies()[0].retrieving
        assert retrieve(client, cache, study).complete


def test_a_study_the_node_does_not_hold_is_one_clear_error(orthanc, tmp_path):
    cache = PacsCache(tmp_path / "cache", limit_bytes=MB)
    with client_for(orthanc, "wado") as client, pytest.raises(PacsError, match="has no instances of that study"):
        retrieve(client, cache, generate_uid())
    assert cache.studies() == []
    with client_for(orthanc, "wado") as client, pytest.raises(PacsError, match="^'1.2.x' is not a valid Study"):
        retrieve(client, cache, "1.2.x")


def test_a_retrieve_evicts_older_studies_over_the_limit_but_never_itself(orthanc, tmp_path):
    old, old_paths = make_study(tmp_path / "old", count=2, series=1)
    new, new_paths = make_study(tmp_path / "new", count=2, series=1)
    orthanc.upload(old_paths + new_paths)
    cache = PacsCache(tmp_path / "cache", limit_bytes=100 * MB)
    with client_for(orthanc, "wado") as client:
        retrieve(client, cache, old)
        cache.limit_bytes = 1  # smaller than any study
        assert retrieve(client, cache, new).complete
    assert [s.study_uid for s in cache.studies()] == [new]


@pytest.mark.parametrize("via", ["wado", "dimse"])
def test_send_gives_per_instance_results_and_refuses_non_dicom_before_sending(orthanc_factory, tmp_path, via):
    server = orthanc_factory()
    study, paths = make_study(tmp_path / "src", count=2, series=1)
    text = tmp_path / "report.txt"
    text.write_text("not DICOM")
    client = client_for(server, "wado" if via == "wado" else "get")
    with pytest.raises(PacsError, match=r"^report.txt is not a DICOM instance .*nothing was sent$"):
        send(client, [paths[0], text])
    assert server.instances() == []
    if via == "wado":  # Orthanc refuses, over STOW-RS, an instance without its study
        broken = tmp_path / "no-study.dcm"
        ds = dcmread(paths[1])
        del ds.StudyInstanceUID
        ds.SOPInstanceUID = generate_uid()
        ds.save_as(broken)
        paths = [paths[0], broken, paths[1]]
    results = send(client, paths, backoff_s=0.05)
    assert [r.path for r in results] == paths
    assert all(r.attempts == 1 for r in results)  # a refusal is not retried
    assert [r.ok for r in results] == ([True, False, True] if via == "wado" else [True, True])
    stored = {i["MainDicomTags"]["SOPInstanceUID"] for i in server.instances()}
    assert stored == {r.sop_instance_uid for r in results if r.ok}


@pytest.mark.parametrize("via", ["wado", "dimse"])
def test_orthanc_stopped_mid_send_is_an_error_saying_how_far_it_got(orthanc_factory, tmp_path, via):
    server = orthanc_factory()
    _, paths = make_study(tmp_path / "src", count=3, series=1)
    client = client_for(server, "wado" if via == "wado" else "get")
    started = time.monotonic()
    with pytest.raises(SendStopped) as caught:
        send(client, paths, OnProgress(at=0.3, action=server.stop), retries=2, backoff_s=0.05)
    message = str(caught.value)
    assert message.startswith("sending stopped after 1 of 3 instances were stored: ")
    assert f"orthanc-{'web' if via == 'wado' else 'dimse'}" in message  # the node, named
    assert "\n" not in message and server.password not in message
    assert [r.ok for r in caught.value.results] == [True]
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("via", ["wado", "dimse"])
def test_send_retries_after_orthanc_comes_back_and_says_how_many_attempts(orthanc_factory, tmp_path, via):
    server = orthanc_factory()
    _, paths = make_study(tmp_path / "src", count=3, series=1)
    client = client_for(server, "wado" if via == "wado" else "get")
    back = threading.Thread(target=lambda: (time.sleep(0.3), server.restart()))

    def outage() -> None:
        server.kill()
        back.start()

    results = send(client, paths, OnProgress(at=0.3, action=outage), retries=6, backoff_s=0.25)
    back.join()
    assert all(r.ok for r in results), results
    assert results[0].attempts == 1 and results[1].attempts > 1
    stored = {i["MainDicomTags"]["SOPInstanceUID"] for i in server.instances()}
    assert stored == {dcmread(p).SOPInstanceUID for p in paths}


def test_wrong_credentials_stop_a_send_at_once(orthanc, tmp_path):
    from viewer.pacs.web import WebClient

    _, paths = make_study(tmp_path / "src", count=2, series=1)
    started = time.monotonic()
    with pytest.raises(SendStopped, match=r"stored: PACS node 'orthanc-web' .*wrong credentials \(HTTP 401\)$"):
        send(WebClient(web_node(orthanc), "wrong"), paths, backoff_s=5)
    assert time.monotonic() - started < 4  # no back-off: retrying cannot mend it


def test_which_failures_are_worth_a_retry():
    def failed(status):
        return SendResult(Path("x.dcm"), "1.2", False, status, "")

    assert transient(failed(None), "dimse") and transient(failed(None), "dicomweb")  # the connection went
    assert transient(failed(0xA700), "dimse") and transient(failed(0xA7FF), "dimse")  # out of resources
    assert not any(transient(failed(s), "dimse") for s in (0xA900, 0xC000, 0xC211, 0x0122))
    assert all(transient(failed(s), "dicomweb") for s in (500, 502, 503, 504, 408, 429))
    assert not any(transient(failed(s), "dicomweb") for s in (400, 404, 409, 413, 415))
    assert not transient(SendResult(Path("x.dcm"), "1.2", True, 0xA700, ""), "dimse")


@pytest.mark.parametrize("via", ["wado", "get"])
def test_an_instance_deleted_between_the_listing_and_the_transfer(orthanc, tmp_path, via):
    """The PACS lists three instances, one is deleted before it is sent: the retrieve stops partial (never complete);
    the next one lists two and completes with them instead of waiting for ever for the deleted one."""
    study, paths = make_study(tmp_path / "src", count=3, series=1)
    ids = orthanc.upload(paths)
    cache = PacsCache(tmp_path / "cache", limit_bytes=100 * MB)
    with client_for(orthanc, via) as client:
        listed = client.list_instances(study)
        client.list_instances = lambda *args, **kwargs: listed  # the listing as it was, before the deletion
        orthanc._request("DELETE", f"/instances/{ids[2]}").raise_for_status()
        with pytest.raises(PacsError, match="retrieve again to resume"):
            retrieve(client, cache, study)
    assert not cache.is_complete(study)
    with client_for(orthanc, via) as client:
        result = retrieve(client, cache, study)
    assert result.complete and cache.is_complete(study) and len(result.paths) == 2
    assert {path.stem for path in result.paths} == {ref.sop_instance_uid for ref in listed[:3]} - {
        str(dcmread(paths[2]).SOPInstanceUID)}
