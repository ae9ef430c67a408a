"""The retrieve figure: a study's throughput in MB/s from a local Orthanc (viewer.bench.orthanc) into RadCAM's PACS
cache, over C-GET and WADO-RS, each as a ratio to reading the same files from disk with pydicom.

The study: INSTANCES generated CR images of SIZE x SIZE 16-bit, uncompressed (no decoder in the way: what is timed is
the transfer, the parsing and the cache's atomic writes). Each sample retrieves the whole study into an empty cache
with the real client (viewer.pacs.retrieve, the code `radcam-cli pacs get` runs), association or HTTP session
included. Without Orthanc (or its DICOMweb plugin) the figures are missing and the notes say why.
"""

from __future__ import annotations

import math
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from viewer.errors import RadcamError

from .measure import SAMPLE_MS

INSTANCES = 8
SIZE = 2048
MB = 1024 * 1024
FIGURES = ("retrieve_disk_mb_s", "retrieve_cget_mb_s", "retrieve_wado_mb_s")


def write_study(folder: Path, count: int = INSTANCES, size: int = SIZE) -> list[Path]:
    """`count` CR instances of one study and series, explicit VR little endian, a smooth image plus noise."""
    from pydicom import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    rng = np.random.default_rng(18)
    ramp = np.linspace(0, 3000, size, dtype=np.float32)
    paths = []
    for number in range(1, count + 1):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # CR Image Storage
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName, ds.PatientID = "Bench^Retrieve", "RADCAM-BENCH"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "120000", "1", "BENCH1"
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CR", 1, number
        pixels = (ramp[None, :] + ramp[:, None] / 2 + rng.normal(0, 40, (size, size))).clip(0, 4095)
        ds.set_pixel_data(pixels.astype(np.uint16), "MONOCHROME2", 12, generate_instance_uid=False)
        path = folder / f"bench{number:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def not_measured(why: str) -> dict[str, str]:
    return {name: f"not measured: {why}" for name in FIGURES}


def retrieve_figures(folder: Path, repeat: int, say: Callable[[str], None] = lambda message: None
                     ) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """The three throughputs (median of `repeat` rounds after a warm-up, the three in rotating order in each round)
    and the two ratios; ({}, {}, notes saying why) when Orthanc is absent or fails."""
    from .orthanc import Orthanc, OrthancError, free_port, orthanc_available

    why = orthanc_available()
    if why:
        say(f"retrieve throughput not measured: {why}")
        return {}, {}, not_measured(why)
    paths = write_study(folder / "retrieve-study")
    total = sum(path.stat().st_size for path in paths)
    try:
        with Orthanc(folder / "orthanc", modalities={"RADCAM": ("127.0.0.1", free_port())}) as pacs:
            pacs.upload(paths)
            cache_root = folder / "retrieve-cache"
            samples = _rounds(_transfers(pacs, paths, cache_root), repeat,
                              lambda: shutil.rmtree(cache_root, ignore_errors=True))
    except (OrthancError, RadcamError, OSError) as exc:
        why = " ".join(str(exc).split())
        say(f"retrieve throughput not measured: {why}")
        return {}, {}, not_measured(why)
    figures = {name: total / MB / statistics.median(times) for name, times in samples.items()}
    figures["retrieve_cget_over_disk"] = figures["retrieve_cget_mb_s"] / figures["retrieve_disk_mb_s"]
    figures["retrieve_wado_over_disk"] = figures["retrieve_wado_mb_s"] / figures["retrieve_disk_mb_s"]
    runs = {name: len(times) for name, times in samples.items()}
    study = f"{len(paths)} CR instances {SIZE}x{SIZE} 16-bit uncompressed, {total / MB:.0f} MB"
    notes = {
        "retrieve_disk_mb_s": f"pydicom.dcmread of each file of the study ({study}), page cache warm; a sample is "
                              f"the mean of as many reads as take {SAMPLE_MS:g} ms",
        "retrieve_cget_mb_s": f"the study by C-GET from a local Orthanc into an empty PACS cache ({study})",
        "retrieve_wado_mb_s": f"the study by WADO-RS (basic authentication) from the same Orthanc ({study})",
    }
    return figures, runs, notes


def _transfers(pacs, paths: list[Path], cache_root: Path) -> dict[str, Callable[[], object]]:
    """What each figure times; every retrieve starts from an empty cache (emptied outside the timing)."""
    from pydicom import dcmread

    from viewer.pacs.cache import PacsCache
    from viewer.pacs.client import open_client
    from viewer.pacs.nodes import Node
    from viewer.pacs.retrieve import retrieve

    study_uid = str(dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
    dimse = Node("bench-dimse", "dimse", ae_title=pacs.aet, host="127.0.0.1", port=pacs.dicom_port,
                 move_port=pacs.modalities["RADCAM"][1], timeout=60.0)
    web = Node("bench-web", "dicomweb", url=pacs.dicomweb_url, auth="basic", username=pacs.username, timeout=60.0)

    def read_disk() -> None:
        for path in paths:
            dcmread(path)

    def fetch(node: Node, secret: str | None, via: str) -> Callable[[], object]:
        def run() -> None:
            client = open_client(node, secret, retrieve=via if node.kind == "dimse" else None)  # type: ignore[arg-type]
            try:
                result = retrieve(client, PacsCache(cache_root, limit_bytes=1 << 40), study_uid)
            finally:
                client.close()
            if not result.complete or result.fetched != len(paths):
                raise RadcamError(f"the {via} retrieve brought {result.fetched} of {len(paths)} instances")
        return run

    return {"retrieve_disk_mb_s": read_disk, "retrieve_cget_mb_s": fetch(dimse, None, "get"),
            "retrieve_wado_mb_s": fetch(web, pacs.password, "wado")}


def _rounds(fns: dict[str, Callable[[], object]], repeat: int, reset: Callable[[], object]
            ) -> dict[str, list[float]]:
    """Seconds per call: a warm-up call of each, then `repeat` rounds, round r starting at the r-th (as
    measure.time_rounds); `reset` (the cache emptied) before each sample, untimed. A sample of the disk read, which
    needs no reset, is the mean of as many calls as take SAMPLE_MS (one read of the study takes a few ms)."""
    calls: dict[str, int] = {}
    for name, fn in fns.items():
        reset()
        start = time.perf_counter()
        fn()
        took_ms = (time.perf_counter() - start) * 1e3
        calls[name] = max(1, math.ceil(SAMPLE_MS / max(took_ms, 1e-3))) if name == "retrieve_disk_mb_s" else 1
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            reset()
            start = time.perf_counter()
            for _ in range(calls[name]):
                fns[name]()
            samples[name].append((time.perf_counter() - start) / calls[name])
    return samples
