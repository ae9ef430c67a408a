"""Decoding in helper processes.

pydicom's JPEG 2000 decoder holds the GIL for ~130 ms on a 2k radiograph, and the GIL is shared by every thread:
decoding on a thread would still freeze the UI. Spawned processes decode and send the DisplayImage back
(pickled: ~20 MB for 1955x1841, ~10 ms to unpack), so the UI never waits on a decoder. Qt-free on purpose: the
helper processes import this module.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from viewer.errors import StudyError
from viewer.io import DisplayImage, open_image

WORKERS = 2  # the image the user asked for never queues behind a thumbnail


def _ready() -> bool:
    return True


def _thumbnail(path: Path, size: int) -> np.ndarray:
    """The first frame as shown by default, decimated to about twice `size` (the caller scales it smoothly)."""
    pixels = open_image(path, 0).render()
    step = max(1, min(pixels.shape[:2]) // (size * 2))
    return np.ascontiguousarray(pixels[::step, ::step])


class Decoder:
    """Blocking calls meant for worker threads: the calling thread waits without holding the GIL."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pool = self._start()

    @staticmethod
    def _start() -> ProcessPoolExecutor:
        # spawn, not fork: forking a process that runs Qt and TensorFlow threads can deadlock the child.
        pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"))
        for _ in range(WORKERS):
            pool.submit(_ready)  # start the helpers now, not on the first decode
        return pool

    def image(self, path: Path, frame: int = 0) -> DisplayImage:
        return self._run(path, open_image, path, frame)

    def thumbnail(self, path: Path, size: int) -> np.ndarray:
        return self._run(path, _thumbnail, path, size)

    def _run(self, path: Path, fn, *args):
        with self._lock:
            pool = self._pool
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            # A decoder crashed (a native library on a damaged file): report the file, start fresh helpers.
            with self._lock:
                if self._pool is pool:
                    self._pool = self._start()
            raise StudyError(f"{path}: the decoder crashed on this file") from None

    def shutdown(self) -> None:
        with self._lock:
            self._pool.shutdown(wait=False, cancel_futures=True)
