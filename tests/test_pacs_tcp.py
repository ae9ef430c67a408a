"""DIMSE speed against a real Orthanc: a small instance costs milliseconds, not a TCP delayed ACK.

Orthanc (DCMTK) writes each PDU as a 12-byte header then the data, without TCP_NODELAY, and pynetdicom writes a
message's command and data set as two PDUs: Nagle holds the second write until the first is acknowledged, and the
receiver's delayed ACK is at least 40 ms on Linux — 48 ms per instance by C-GET, 51 by C-MOVE, 100 per C-STORE
measured before viewer.pacs.tcp. The bounds below sit far under what one delayed ACK per instance costs."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import dimse_node, needs_orthanc, write_dicom
from pydicom import dcmread
from pydicom.uid import generate_uid

from viewer.pacs.dimse import DimseClient

pytestmark = needs_orthanc
COUNT = 60  # one 40 ms delayed ACK each would be 2.4 s


def tiny_study(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    return [write_dicom(folder / f"t{n}.dcm", np.full((8, 8), n, dtype=np.uint16), bits_stored=12,
                        StudyInstanceUID=study, SeriesInstanceUID=series, InstanceNumber=n + 1)
            for n in range(count)]


@pytest.mark.parametrize("via", ["get", "move"])
def test_small_instances_are_retrieved_without_delayed_acks(orthanc, tmp_path, via):
    paths = tiny_study(tmp_path / "src", COUNT)
    orthanc.upload(paths)
    client = DimseClient(dimse_node(orthanc), retrieve=via)
    refs = client.list_instances(str(dcmread(paths[0]).StudyInstanceUID))
    got = []
    start = time.perf_counter()
    client.fetch(refs, lambda ds: got.append(ds.SOPInstanceUID) or tmp_path)
    took = time.perf_counter() - start
    assert len(got) == COUNT
    assert took < 1.5, f"{COUNT} tiny instances by C-{via.upper()} took {took:.2f} s"


def test_small_instances_are_stored_without_delayed_acks(orthanc, tmp_path):
    paths = tiny_study(tmp_path / "src", 30)  # one 40 ms delayed ACK each would be 1.2 s
    client = DimseClient(dimse_node(orthanc))
    start = time.perf_counter()
    results = client.store(paths)
    took = time.perf_counter() - start
    assert all(result.ok for result in results)
    assert took < 0.8, f"30 tiny instances by C-STORE took {took:.2f} s"


@pytest.mark.parametrize("via", ["get", "move"])
def test_the_timeout_is_silence_not_the_length_of_a_transfer(orthanc, tmp_path, via):
    """The node's timeout is how long the PACS may say nothing. A C-MOVE's own association is silent while each
    instance travels on the other one, and an instance on a slow link takes longer than the timeout to arrive
    whole: neither is silence. Here the time goes into keeping each instance (0.4 s, twice the timeout) — before,
    the retrieve was 'connection lost' after 0.2 s."""
    from dataclasses import replace

    paths = tiny_study(tmp_path / "src", 3)
    orthanc.upload(paths)
    client = DimseClient(dimse_node(orthanc), retrieve=via)
    refs = client.list_instances(str(dcmread(paths[0]).StudyInstanceUID))
    client = DimseClient(replace(dimse_node(orthanc), timeout=0.2), retrieve=via)
    got = []

    def slow(ds):
        time.sleep(0.4)
        got.append(ds.SOPInstanceUID)
        return tmp_path

    client.fetch(refs, slow)
    assert len(got) == 3


def test_a_pacs_silent_mid_retrieve_still_times_out(orthanc_factory, tmp_path):
    """Silence is still caught: a PACS stopped (SIGSTOP) mid-retrieve, the retrieve ends within about the
    timeout, as one line."""
    import os
    import signal

    from viewer.errors import PacsError

    server = orthanc_factory()
    paths = tiny_study(tmp_path / "src", 4)
    server.upload(paths)
    client = DimseClient(dimse_node(server, timeout=1.0), retrieve="move")
    refs = client.list_instances(str(dcmread(paths[0]).StudyInstanceUID))

    def freeze(ds):
        if ds.InstanceNumber == 2:
            os.kill(server.process.pid, signal.SIGSTOP)
        return tmp_path

    start = time.perf_counter()
    try:
        with pytest.raises(PacsError, match="no answer within 1 s"):
            client.fetch(refs, freeze)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert time.perf_counter() - start < 5
