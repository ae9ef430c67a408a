"""The large-image figure: `radcam-cli explain` of a 10,000 × 10,000 16-bit DICOM in a fresh process, its wall time,
its CPU time and its peak resident memory (the child's own VmHWM: neither the parent's nor earlier children's
count). Best of RUNS: on a shared machine the wall time says as much about the neighbours as about RadCAM, so the
CPU time (user + system) is reported beside it.

The DICOM is made here with pydicom (12 bits stored, two soft lung-like fields and six bits of noise, so PNG
compression meets a film's noise rather than a flat field), in the benchmark's temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from viewer.errors import RadcamError

LARGE_SIDE = 10_000
TIMEOUT_S = 900
RUNS = 3


def write_large_dicom(path: Path, side: int = LARGE_SIDE, seed: int = 0) -> Path:
    """A `side`² 16-bit (12 stored) CR chest DICOM, explicit VR little endian, uncompressed."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(seed)
    y = np.linspace(-1, 1, side, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, side, dtype=np.float32)[None, :]
    pixels = np.full((side, side), 2000, np.uint16)
    for centre in (-0.35, 0.35):  # row by row: whole-image float temporaries would be 400 MB each
        for top in range(0, side, 1000):
            band = 1200 * np.exp(-((x - centre) ** 2 + y[top:top + 1000] ** 2) * 3)
            pixels[top:top + 1000] += band.astype(np.uint16)
    pixels += rng.integers(0, 64, (side, side), dtype=np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.1")  # Computed Radiography
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "CR", "CHEST", "PA"
    ds.PatientName, ds.PatientID = "Bench^Large", "BENCH-LARGE"
    ds.Rows = ds.Columns = side
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def explain_in_child(source: Path, out: Path, extra: list[str] | None = None,
                     timeout_s: float = TIMEOUT_S) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MB, CPU seconds: user + system) of `python -m viewer.cli explain SOURCE --out OUT
    [extra]` in a fresh process."""
    args = [sys.executable, "-m", "viewer.cli", "explain", str(source), "--out", str(out), *(extra or [])]
    seconds, peak_mb, cpu_s, code, error = run_measured(args, timeout_s)
    if code is None:
        raise RadcamError(f"explain of a {LARGE_SIDE}² DICOM did not finish in {timeout_s:g} s")
    if code != 0:
        tail = " ".join(error.strip().splitlines()[-3:])
        raise RadcamError(f"explain of a {LARGE_SIDE}² DICOM failed (exit {code}): {tail[-400:]}")
    return seconds, peak_mb, cpu_s


def run_measured(args: list[str], timeout_s: float) -> tuple[float, float, float, int | None, str]:
    """(wall seconds, its own peak RSS MB, CPU seconds, exit code (None: killed at the timeout), stderr) of `args`."""
    started = time.perf_counter()
    with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as child:
        deadline = started + timeout_s
        high_water_kb = 0.0
        while True:
            high_water_kb = max(high_water_kb, _high_water_kb(child.pid))
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
                child.wait()
                return time.perf_counter() - started, high_water_kb / 1024, 0.0, None, ""
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        error = child.stderr.read().decode(errors="replace") if child.stderr else ""
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    # Linux gives an exec'd child the high-water mark of the memory it was forked from (exec_mmap keeps the old
    # mm's in the signal's maxrss): spawned from a 3 GB test process, wait4 said 3 GB for a 1.4 GB explain. The
    # child's own VmHWM, read while it runs (the peak is in the write, not in its last 10 ms), is its own.
    peak_mb = high_water_kb / 1024 if high_water_kb else usage.ru_maxrss / scale
    return seconds, peak_mb, usage.ru_utime + usage.ru_stime, child.returncode, error


def _high_water_kb(pid: int) -> float:
    """The process's peak resident set (VmHWM, KiB) from /proc; 0 where there is none (not Linux, gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def large_explain_figures(folder: Path, side: int = LARGE_SIDE, runs: int = RUNS
                          ) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """large_explain_s (the fastest of `runs`), large_explain_cpu_s (that run's user + system CPU) and
    large_explain_peak_mb (the highest of the runs' peaks); the file cache is warmed by writing the file just
    before."""
    import shutil

    source = write_large_dicom(Path(folder) / "large.dcm", side)
    measured = []
    for _ in range(runs):
        out = Path(folder) / "large-out"
        shutil.rmtree(out, ignore_errors=True)  # each run writes the whole set, as a first explain would
        measured.append(explain_in_child(source, out))
    seconds, _, cpu = min(measured)
    figures = {"large_explain_s": round(seconds, 2), "large_explain_cpu_s": round(cpu, 2),
               "large_explain_peak_mb": round(max(peak for _, peak, _ in measured), 1)}
    note = (f"`radcam-cli explain` of a {side}² 16-bit DICOM (demo model, Grad-CAM, the default outputs: four "
            f"full-size PNGs, the CAM array, the sidecar), a fresh process, best of {runs}: wall time from its start, "
            "its CPU time (user + system: what a shared machine's load does not change much) and its peak RSS "
            "(the highest of the runs)")
    return figures, dict.fromkeys(figures, runs), dict.fromkeys(figures, note)


__all__ = ["explain_in_child", "large_explain_figures", "run_measured", "write_large_dicom"]
