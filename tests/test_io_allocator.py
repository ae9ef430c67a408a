"""viewer.io.allocator: a batch's images reuse the memory the previous ones freed instead of faulting fresh pages
in (glibc's mmap threshold and trim threshold), and a user's own malloc settings are left alone."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc only")

CHILD = """
import resource, sys, warnings
warnings.simplefilter("ignore")
from viewer.io import open_image
from viewer.io.allocator import keep_freed_memory
path = sys.argv[1]
for _ in range(3):
    open_image(path).render()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    open_image(path).render()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print(keep_freed_memory(), faults)
"""


def _child(env: dict[str, str]) -> tuple[bool, float]:
    from viewer.bench.suite import bench_file

    done = subprocess.run([sys.executable, "-c", CHILD, str(bench_file())], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    tuned, faults = done.stdout.split()
    return tuned == "True", float(faults)


def test_opening_image_after_image_faults_no_fresh_pages_in():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    tuned, faults = _child(env)
    assert tuned
    # Untuned, each 1024² RLE DICOM faulted ~2,300 pages (9 MB) in and handed them back: 4.7 ms of system time.
    assert faults < 100, f"{faults:.0f} page faults an image"


def test_a_users_own_malloc_settings_are_left_alone():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    env["MALLOC_TRIM_THRESHOLD_"] = str(128 * 1024)  # glibc's default, set by hand
    tuned, faults = _child(env)
    assert not tuned
