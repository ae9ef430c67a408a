"""Timers (warm-up excluded, median of N), Pearson correlation, peak resident memory of one phase, and running a
measurement in a fresh Python process.

Peak memory: TensorFlow allocates outside Python's allocator, so tracemalloc sees almost nothing of it. A phase's
peak is read from the process's RSS high-water mark instead: reset with `/proc/self/clear_refs` (Linux ≥ 4.0)
just before the phase, read from /proc/self/status (VmHWM) after it (see peak_rss_mb for why not getrusage).
Without clear_refs the high-water mark cannot be reset and the figure is an upper bound (`peak_method` says so).
Phases are measured in a child process each (viewer.bench.child) so that one measurement's freed-but-kept memory
does not hide the next one's.
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from viewer.errors import RadcamError

SLOW_MS = 10_000.0  # a figure whose first timed run takes longer than this ...
SLOW_REPEAT = 3  # ... is the median of at most this many runs (a 60 s Score-CAM five times is 5 minutes)
SAMPLE_MS = 50.0  # the benchmark's samples: the mean of as many consecutive calls as take about this long


@dataclass
class Timing:
    """The median of `samples` (milliseconds per call), the warm-up runs excluded."""

    median_ms: float
    samples: list[float] = field(default_factory=list)  # milliseconds per call, one value per sample
    calls_per_sample: int = 1

    @property
    def runs(self) -> int:
        return len(self.samples)


def calls_per_sample(fn: Callable[[], object], sample_ms: float) -> int:
    """How many calls of `fn` make one sample of about `sample_ms` (from one untimed-for-the-result call): a 3 ms
    forward pass timed once per sample is mostly scheduler noise on a shared machine; timed 17 times, it is not."""
    if sample_ms <= 0:
        return 1
    start = time.perf_counter()
    fn()
    elapsed = (time.perf_counter() - start) * 1e3
    return max(1, min(1000, math.ceil(sample_ms / max(elapsed, 1e-3))))


def _sample(fn: Callable[[], object], calls: int) -> float:
    """Milliseconds per call over `calls` consecutive calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) * 1e3 / calls


def time_ms(fn: Callable[[], object], repeat: int, warmup: int = 1, *, slow_ms: float = SLOW_MS,
            sample_ms: float = 0.0) -> Timing:
    """Call `fn` `warmup` times untimed, then take `repeat` timed samples; the median in milliseconds per call.

    A sample is one call, or with `sample_ms` > 0 the mean of as many consecutive calls as take about that long.
    `fn` must return only when its work is done (numpy results, not pending tensors). When the first sample
    takes longer than `slow_ms`, at most SLOW_REPEAT samples are taken (Timing.runs says how many were).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    for _ in range(warmup):
        fn()
    calls = calls_per_sample(fn, sample_ms)
    samples: list[float] = []
    wanted = repeat
    while len(samples) < wanted:
        samples.append(_sample(fn, calls))
        if len(samples) == 1 and samples[0] * calls > slow_ms:
            wanted = min(repeat, SLOW_REPEAT)
    return Timing(statistics.median(samples), samples, calls)


def time_rounds(fns: Mapping[str, Callable[[], object]], repeat: int, *, slow_ms: float = SLOW_MS,
                sample_ms: float = 0.0) -> dict[str, Timing]:
    """Time several functions in rounds (one sample of each per round), so that the figures a ratio divides are
    measured under the same load on a shared machine; the median of each. No warm-up: warm them up first.

    Round r starts at the r-th function (a rotation), so that no function always runs right after the same
    one: a call after the naive per-channel Score-CAM loop's Keras `predict` ran 5–15 % slower than after anything
    else. A sample is as in time_ms.

    When the first round takes longer than `slow_ms`, at most SLOW_REPEAT rounds are made.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    calls = {name: calls_per_sample(fn, sample_ms) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    wanted, rounds = repeat, 0
    while rounds < wanted:
        round_start = time.perf_counter()
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_sample(fns[name], calls[name]))
        rounds += 1
        if rounds == 1 and (time.perf_counter() - round_start) * 1e3 > slow_ms:
            wanted = min(repeat, SLOW_REPEAT)
    return {name: Timing(statistics.median(values), values, calls[name]) for name, values in samples.items()}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps of the same shape; 1.0 for two identical constant maps, else NaN when
    one is constant (a constant map has no pattern to correlate)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps of different sizes: {a.size} and {b.size} values")
    a = a - a.mean()
    b = b - b.mean()
    norm = math.sqrt(float(a @ a) * float(b @ b))
    if norm == 0.0:
        return 1.0 if not a.any() and not b.any() else float("nan")
    return float(a @ b) / norm


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or not denominator:
        return None
    return numerator / denominator


# ---- resident memory ----

def _status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mb() -> float:
    """The resident set size now (MB); the high-water mark when /proc is not there."""
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else peak_rss_mb()


def peak_rss_mb() -> float:
    """The process's RSS high-water mark (MB): VmHWM from /proc/self/status, else getrusage's ru_maxrss.

    VmHWM first because it is the address space's own mark, which clear_refs resets; ru_maxrss is the larger of
    that and a mark the kernel saves whenever a thread exits, so after a TensorFlow worker thread has exited it can
    stay at an old peak that no reset clears.
    """
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb / 1024
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / 2**20 if sys.platform == "darwin" else value / 1024


def reset_peak_rss() -> bool:
    """Set the RSS high-water mark to the current RSS (Linux clear_refs 5); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def peak_extra_mb(fn: Callable[[], object]) -> dict:
    """Run `fn` once; {'rss_before_mb', 'peak_mb', 'peak_extra_mb', 'peak_method', 'seconds'}.

    peak_extra_mb = the highest RSS during `fn` minus the RSS just before it.
    """
    before = current_rss_mb()
    exact = reset_peak_rss()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    return {"rss_before_mb": round(before, 1), "peak_mb": round(peak, 1),
            "peak_extra_mb": round(max(0.0, peak - before), 1),
            "peak_method": "VmHWM after clear_refs" if exact else "high-water mark (upper bound: no clear_refs)",
            "seconds": round(seconds, 3)}


def run_child(args: list[str], what: str, timeout_s: float, env: dict | None = None) -> dict:
    """Run `python ARGS` and return the last JSON object it printed on a line of its own; RadcamError (one line,
    naming `what`) when it runs past `timeout_s`, fails, or prints no such line."""
    try:
        result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise RadcamError(f"{what} did not finish in {timeout_s:g} s") from None
    reports = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not reports:
        tail = " ".join(result.stderr.strip().splitlines()[-3:])
        raise RadcamError(f"{what} failed (exit {result.returncode}): {tail[-400:]}")
    return json.loads(reports[-1])
