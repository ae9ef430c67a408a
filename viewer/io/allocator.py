"""The C allocator tuned for a batch: freed image-sized blocks kept for the next image instead of handed back to the
kernel and faulted in again.

glibc serves a block of 128 KB or more with its own mmap and unmaps it when freed (the threshold then adapts to the
largest block freed, and the heap is trimmed above twice it). A batch allocates and frees the same few sizes for
every image (the stored frame, the index, the display image, the CAM, decoder buffers): at 1024² opening the demo
DICOM paid ~2,300 page faults, 4.7 ms of system time for 5.3 ms of work. Blocks up to MMAP_THRESHOLD now come from
the heap, and up to TRIM_THRESHOLD of free heap is kept; larger blocks (a 10,000² image's arrays) are still mapped
and unmapped as before, so a large image's peak is not raised by more than the kept heap.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading

M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 64 << 20
# A user's own settings win: glibc reads these at start-up.
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

_lock = threading.Lock()
_tuned: bool | None = None


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for this process, once; False where it is not glibc or the user set it already."""
    global _tuned
    if _tuned is not None:  # every image asks: no lock once it is known
        return _tuned
    with _lock:
        if _tuned is None:
            _tuned = _tune()
        return _tuned


def _tune() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
