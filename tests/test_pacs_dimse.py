"""The DIMSE client (viewer.pacs.dimse) against a real Orthanc: C-ECHO, C-FIND at study/series/image level with
each filter, C-GET and C-MOVE (as stored: compressed instances stay compressed), C-STORE with per-instance results,
cancel (C-CANCEL), and the faults — Orthanc killed mid-retrieve and mid-send, a wrong called AE title, an unknown
calling AE title, a closed port, a silent one — each one PacsError line naming the node, nothing half-written."""

from __future__ import annotations

import io
import logging
import os
import socket
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, dimse_node, needs_fixtures, needs_orthanc, write_dicom
from pydicom import dcmread
from pydicom.uid import generate_uid

from viewer.errors import PacsError
from viewer.pacs.client import StudyQuery, open_client
from viewer.pacs.dimse import DimseClient
from viewer.pacs.nodes import Node
from viewer.progress import Cancelled

pytestmark = needs_orthanc


def make_study(folder: Path, count: int = 3, size: int = 64, **attributes) -> list[Path]:
    """`count` instances of one new study and series, each `size`² 16-bit (distinct pixels), with `attributes`."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = attributes.pop("StudyInstanceUID", generate_uid()), generate_uid()
    rng = np.random.default_rng(count)
    return [write_dicom(folder / f"i{n}.dcm", rng.integers(0, 4096, (size, size), dtype=np.uint16),
                        bits_stored=12, StudyInstanceUID=study, SeriesInstanceUID=series, InstanceNumber=n + 1,
                        **attributes) for n in range(count)]


class Folder:
    """An on_instance that writes as the cache does (a temporary file, then a rename), so only whole files ever
    stand under their final name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.datasets = []

    def __call__(self, ds) -> Path:
        self.datasets.append(ds)
        final = self.root / f"{ds.SOPInstanceUID}.dcm"
        handle, temporary = tempfile.mkstemp(dir=self.root, suffix=".part")
        os.close(handle)
        ds.save_as(temporary, enforce_file_format=True)
        os.replace(temporary, final)
        return final

    def uids(self) -> set[str]:
        return {ds.SOPInstanceUID for ds in self.datasets}


def assert_only_whole_files(folder: Path, expected: set[str]) -> None:
    names = {path.name for path in folder.iterdir()}
    assert not [name for name in names if not name.endswith(".dcm")], names  # no temporary left
    for path in folder.iterdir():
        ds = dcmread(path)
        assert ds.SOPInstanceUID in expected
        assert ds.pixel_array.shape == (ds.Rows, ds.Columns)


class Stop:
    """A Reporter cancelled from outside, as the viewer's Cancel button does."""

    now = False

    def progress(self, fraction: float) -> None:
        pass

    def cancelled(self) -> bool:
        return self.now


# -- echo and find ----------------------------------------------------------------------------------------------
def test_echo(orthanc):
    client = open_client(dimse_node(orthanc))
    assert isinstance(client, DimseClient)
    with client:
        client.echo()


def test_find_studies_by_each_filter_then_series_and_instances(orthanc, tmp_path):
    pid = "DIMSE-" + generate_uid()[-8:]
    paths = make_study(tmp_path / "a", 3, PatientID=pid, PatientName="Find^Dimse", AccessionNumber="ACC77",
                       StudyDate="20240315", Modality="DX", StudyDescription="Chest PA", SeriesDescription="PA")
    make_study(tmp_path / "b", 1, PatientID=pid, PatientName="Other^Person", StudyDate="20230101", Modality="CR")
    orthanc.upload(paths + sorted((tmp_path / "b").glob("*.dcm")))
    study_uid = dcmread(paths[0]).StudyInstanceUID
    client = DimseClient(dimse_node(orthanc))

    everything = client.find_studies(StudyQuery(patient_id=pid))
    assert len(everything) == 2
    (found,) = [match for match in everything if match.study_uid == study_uid]
    assert (found.patient_name, found.patient_id, found.accession, found.study_date, found.description) == (
        "Find^Dimse", pid, "ACC77", "20240315", "Chest PA")
    assert found.modalities == ("DX",) and found.series_count == 1 and found.instance_count == 3
    for query in (StudyQuery(patient_id=pid, patient_name="Find*"), StudyQuery(patient_id=pid, accession="ACC77"),
                  StudyQuery(patient_id=pid, modality="DX"),
                  StudyQuery(patient_id=pid, date_from=date(2024, 3, 1), date_to=date(2024, 3, 31)),
                  StudyQuery(patient_id=pid, date_from=date(2024, 1, 1))):
        assert [match.study_uid for match in client.find_studies(query)] == [study_uid], query
    assert client.find_studies(StudyQuery(patient_id=pid, modality="MG")) == []

    (series,) = client.find_series(study_uid)
    assert (series.series_uid, series.modality, series.description, series.instance_count) == (
        dcmread(paths[0]).SeriesInstanceUID, "DX", "PA", 3)
    refs = client.list_instances(study_uid)
    assert {ref.sop_instance_uid for ref in refs} == {dcmread(p).SOPInstanceUID for p in paths}
    assert {ref.sop_class_uid for ref in refs} == {dcmread(paths[0]).SOPClassUID}
    assert client.list_instances(study_uid, series.series_uid) == refs


def test_pynetdicom_puts_no_patient_on_the_log(orthanc, tmp_path, caplog, capfd):
    paths = make_study(tmp_path / "s", 1, PatientID="LOGPID-991", PatientName="Secret^Loggable")
    orthanc.upload(paths)
    caplog.set_level(logging.DEBUG)
    client = DimseClient(dimse_node(orthanc))
    (match,) = client.find_studies(StudyQuery(patient_name="Secret^Loggable"))
    client.fetch(client.list_instances(match.study_uid), Folder(tmp_path / "out"))
    captured = capfd.readouterr()
    for text in (caplog.text, captured.out, captured.err):
        assert "Loggable" not in text and "LOGPID-991" not in text


# -- retrieve ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["get", "move"])
def test_fetch_brings_exactly_the_wanted_instances(orthanc, tmp_path, via):
    paths = make_study(tmp_path / "src", 4)
    orthanc.upload(paths)
    client = DimseClient(dimse_node(orthanc), retrieve=via)
    study_uid = dcmread(paths[0]).StudyInstanceUID
    refs = client.list_instances(study_uid)
    wanted = refs[:3]  # one request naming three of the series' four instances (a UID list)
    folder, fractions = Folder(tmp_path / "out"), []

    class Watch:
        def progress(self, fraction):
            fractions.append(fraction)

        def cancelled(self):
            return False

    client.fetch(wanted, folder, Watch())
    assert folder.uids() == {ref.sop_instance_uid for ref in wanted}
    for ds in folder.datasets:
        source = next(dcmread(p) for p in paths if dcmread(p).SOPInstanceUID == ds.SOPInstanceUID)
        assert np.array_equal(ds.pixel_array, source.pixel_array)
    assert fractions and fractions[-1] == 1.0
    assert_only_whole_files(folder.root, folder.uids())


@pytest.mark.parametrize("via", ["get", "move"])
def test_fetch_a_study_of_two_series(orthanc, tmp_path, via):
    first = make_study(tmp_path / "one", 2)
    study_uid = dcmread(first[0]).StudyInstanceUID
    second = make_study(tmp_path / "two", 1, StudyInstanceUID=study_uid, SeriesNumber=2)
    orthanc.upload(first + second)
    client = DimseClient(dimse_node(orthanc), retrieve=via)
    assert len(client.find_series(study_uid)) == 2
    refs = client.list_instances(study_uid)
    folder = Folder(tmp_path / "out")
    client.fetch(refs, folder)
    assert folder.uids() == {dcmread(p).SOPInstanceUID for p in first + second}


@needs_fixtures
@pytest.mark.parametrize("via", ["get", "move"])
def test_compressed_instances_arrive_as_stored(orthanc, tmp_path, via):
    sources = [FIXTURES / "dicom" / name for name in ("cr_chest_siim_jpeg_baseline.dcm", "cr_chest_mono1_j2k.dcm")]
    orthanc.upload(sources)
    client = DimseClient(dimse_node(orthanc), retrieve=via)
    for source in map(dcmread, sources):
        folder = Folder(tmp_path / via / source.SOPInstanceUID)
        client.fetch(client.list_instances(source.StudyInstanceUID), folder)
        (ds,) = folder.datasets
        assert ds.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
        assert ds.PixelData == source.PixelData


@pytest.mark.parametrize("via", ["get", "move"])
def test_cancel_sends_c_cancel_and_stops(orthanc, tmp_path, monkeypatch, via):
    from pynetdicom.association import Association

    cancels = []
    real = Association.send_c_cancel
    monkeypatch.setattr(Association, "send_c_cancel",
                        lambda assoc, *args, **kw: cancels.append(args) or real(assoc, *args, **kw))
    paths = make_study(tmp_path / "src", 6, size=256)
    orthanc.upload(paths)
    client = DimseClient(dimse_node(orthanc), retrieve=via)
    refs = client.list_instances(dcmread(paths[0]).StudyInstanceUID)
    folder = Folder(tmp_path / "out")
    stop = Stop()

    def cancel_after_first(ds):
        stop.now = True  # the reader presses Cancel as the first instance lands
        return folder(ds)

    with pytest.raises(Cancelled):
        client.fetch(refs, cancel_after_first, stop)
    # C-GET's sub-operations run on our association, so its next pending answer always comes before the end;
    # a C-MOVE may finish (refused by our SCP) before its pending answer is read.
    assert [args[0] for args in cancels] in ([1], [] if via == "move" else [1])  # the request's message ID
    assert len(folder.datasets) == 1
    assert_only_whole_files(folder.root, {ref.sop_instance_uid for ref in refs})
    client.echo()  # the PACS is fine after the cancel


def test_move_port_in_use_is_one_line(orthanc, tmp_path):
    paths = make_study(tmp_path / "src", 1)
    orthanc.upload(paths)
    client = DimseClient(dimse_node(orthanc), retrieve="move")
    refs = client.list_instances(dcmread(paths[0]).StudyInstanceUID)
    with socket.socket() as taken:  # as a server would hold it (a previous move's TIME_WAIT does not count)
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("", client.node.move_port))
        taken.listen()
        with pytest.raises(PacsError, match=f"cannot receive C-MOVE on port {client.node.move_port}"):
            client.fetch(refs, Folder(tmp_path / "out"))


def test_a_full_disk_while_retrieving_is_a_pacs_error(orthanc, tmp_path):
    paths = make_study(tmp_path / "src", 2)
    orthanc.upload(paths)
    client = DimseClient(dimse_node(orthanc))

    def full(ds):
        raise OSError(28, "No space left on device")

    with pytest.raises(PacsError, match="cannot keep a retrieved instance .No space left on device"):
        client.fetch(client.list_instances(dcmread(paths[0]).StudyInstanceUID), full)


def test_a_wrong_retrieve_way_is_refused(orthanc):
    with pytest.raises(PacsError, match="retrieves by get or move, not wado"):
        DimseClient(dimse_node(orthanc), retrieve="wado")


# -- send -------------------------------------------------------------------------------------------------------
def test_store_gives_one_result_per_file(orthanc, tmp_path):
    paths = make_study(tmp_path / "src", 2)
    junk = tmp_path / "notes.txt"
    junk.write_text("not DICOM")
    fractions = []

    class Watch:
        def progress(self, fraction):
            fractions.append(fraction)

        def cancelled(self):
            return False

    results = DimseClient(dimse_node(orthanc)).store([paths[0], junk, paths[1]], Watch())
    assert [result.ok for result in results] == [True, False, True]
    assert [result.path for result in results] == [paths[0], junk, paths[1]]
    assert results[0].status == 0 and results[0].message == "stored"
    assert results[1].status is None and "not a DICOM file" in results[1].message
    stored = {item["MainDicomTags"]["SOPInstanceUID"] for item in orthanc.instances()}
    assert {dcmread(p).SOPInstanceUID for p in paths} <= stored
    assert fractions[-1] == 1.0


@needs_fixtures
def test_store_sends_each_file_in_its_own_transfer_syntax(orthanc):
    sources = [FIXTURES / "dicom" / name for name in (
        "cr_chest_siim_jpeg_baseline.dcm", "cr_chest_mono1_j2k.dcm", "dx_chest_nih_uncompressed.dcm")]
    results = DimseClient(dimse_node(orthanc)).store(sources)
    assert [result.ok for result in results] == [True, True, True], results
    stored = {item["MainDicomTags"]["SOPInstanceUID"]: item["ID"] for item in orthanc.instances()}
    for source, result in zip(sources, results, strict=True):
        original = dcmread(source)
        copy = dcmread(io.BytesIO(orthanc.instance_file(stored[result.sop_instance_uid])))
        assert copy.PixelData == original.PixelData
        if original.file_meta.TransferSyntaxUID.is_compressed:
            assert copy.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID


# -- faults -----------------------------------------------------------------------------------------------------
def test_wrong_called_ae_title(orthanc):
    node = dimse_node(orthanc, ae_title="NOTORTHANC")
    with pytest.raises(PacsError) as caught:
        DimseClient(node).echo()
    assert str(caught.value) == (f"PACS node 'orthanc-dimse' (NOTORTHANC@127.0.0.1:{orthanc.dicom_port}): association "
                                 "rejected: called AE title 'NOTORTHANC' not recognised (check the node's AE title)")


def test_a_rejection_is_a_refusal_that_send_does_not_retry(orthanc, tmp_path):
    import time

    from viewer.pacs.send import PacsRefusal, SendStopped, send

    client = DimseClient(dimse_node(orthanc, ae_title="NOTORTHANC"))
    with pytest.raises(PacsRefusal):
        client.echo()
    began = time.monotonic()
    with pytest.raises(SendStopped, match="called AE title 'NOTORTHANC' not recognised"):
        send(client, make_study(tmp_path / "s", 1), backoff_s=5)
    assert time.monotonic() - began < 4


def test_unknown_calling_ae_title(orthanc):
    with pytest.raises(PacsError, match="association rejected: our AE title 'STRANGER' is not known to the PACS"):
        DimseClient(dimse_node(orthanc, our_ae_title="STRANGER")).find_studies(StudyQuery())


def test_closed_port(orthanc):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    node = dimse_node(orthanc, port=closed)
    with pytest.raises(PacsError, match=r"^PACS node 'orthanc-dimse' \(ORTHANC@127\.0\.0\.1:\d+\): connection refused"):
        DimseClient(node).echo()


def test_an_unknown_host(monkeypatch):
    def no_such_name(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)  # the answer, without asking a name server
    node = Node("nowhere", "dimse", ae_title="PACS", host="no-such-host.invalid", port=104, timeout=2.0)
    with pytest.raises(PacsError, match=r"^PACS node 'nowhere' \(PACS@no-such-host.invalid:104\): unknown host "):
        DimseClient(node).echo()


def test_a_silent_port_times_out(orthanc):
    with socket.socket() as silent:  # listens, never answers the association request
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        node = dimse_node(orthanc, port=silent.getsockname()[1], timeout=1.0)
        with pytest.raises(PacsError, match=r"no answer to the association request within 1 s \(timeout\)"):
            DimseClient(node).echo()


@pytest.mark.parametrize("via", ["get", "move"])
def test_orthanc_killed_mid_retrieve(orthanc_factory, tmp_path, via):
    server = orthanc_factory()
    paths = make_study(tmp_path / "src", 5, size=512)
    server.upload(paths)
    client = DimseClient(dimse_node(server), retrieve=via)
    refs = client.list_instances(dcmread(paths[0]).StudyInstanceUID)
    folder = Folder(tmp_path / "out")

    def kill_after_first(ds):
        written = folder(ds)
        if len(folder.datasets) == 1:
            server.kill()
        return written

    with pytest.raises(PacsError) as caught:
        client.fetch(refs, kill_after_first)
    message = str(caught.value)
    assert message.startswith(f"PACS node 'orthanc-dimse' (ORTHANC@127.0.0.1:{server.dicom_port}): ")
    assert message.endswith(f"C-{via.upper()} interrupted: connection lost (aborted, or no answer within 10 s)")
    assert 1 <= len(folder.datasets) < 5
    assert_only_whole_files(folder.root, {ref.sop_instance_uid for ref in refs})


def test_orthanc_killed_mid_send(orthanc_factory, tmp_path):
    server = orthanc_factory()
    paths = make_study(tmp_path / "src", 5, size=512)

    class KillAfterFirst:
        def progress(self, fraction):
            if fraction > 0:
                server.kill()

        def cancelled(self):
            return False

    with pytest.raises(PacsError) as caught:
        DimseClient(dimse_node(server)).store(paths, KillAfterFirst())
    message = str(caught.value)
    assert message == (f"PACS node 'orthanc-dimse' (ORTHANC@127.0.0.1:{server.dicom_port}): C-STORE: connection lost "
                       "(aborted, or no answer within 10 s)")
    server.restart()
    stored = server.instances()
    assert len(stored) == 1  # the first; the second never reached it whole
    assert dcmread(io.BytesIO(server.instance_file(stored[0]["ID"]))).pixel_array.shape == (512, 512)


def test_nothing_reaches_a_stopped_pacs_quietly(orthanc_factory, tmp_path):
    server = orthanc_factory()
    node = dimse_node(server)
    server.kill()
    client = DimseClient(replace(node, timeout=2.0))
    for action in (client.echo, lambda: client.find_studies(StudyQuery()),
                   lambda: client.store(make_study(tmp_path / "s", 1))):
        with pytest.raises(PacsError, match="connection refused"):
            action()
