"""Helpers for the robustness tests (test_robust_files.py, test_fuzz.py): open a file the way the viewer and the CLI
do, within a deadline, and check that the only failure is a one-line RadcamError."""

from __future__ import annotations

import os
import threading
import tracemalloc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from viewer.errors import RadcamError
from viewer.io import load, open_image

# Failures that must never hide behind a generic StudyError: they mean a blow-up the loader should have refused
# (or, for recursion, named) itself.
HIDDEN = ("MemoryError", "RecursionError")


def within(seconds: float, fn, *args):
    """fn(*args), failing the test if it is still running after `seconds` (a hang) instead of waiting forever."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 — handed to the caller, whatever it is
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} still running after {seconds} s: a hang"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def peak_allocation(fn, *args) -> tuple[object, int]:
    """(fn(*args), peak bytes allocated through Python and numpy while it ran)."""
    tracemalloc.start()
    try:
        value = fn(*args)
        return value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def check_error(exc: BaseException, path: Path) -> str:
    """The failure is a one-line RadcamError naming the file, not a hidden memory or recursion blow-up."""
    assert isinstance(exc, RadcamError), f"{type(exc).__name__} escaped: {exc}"
    message = str(exc)
    assert message.isprintable() and message.startswith(f"{path}: "), repr(message)  # one line, no control bytes
    assert not isinstance(exc.__cause__, MemoryError), f"{message} (from {exc.__cause__!r})"
    assert not any(name in message for name in HIDDEN), message
    return message


@contextmanager
def no_stray_warnings() -> Iterator[None]:
    """Fail if a warning escapes: in the CLI it would print to stderr beside the one-line contract (pytest records
    warnings itself, so this is how an in-process test sees them). Deprecation and resource warnings are the
    environment's, not the file's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    ignored = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning)
    stray = [f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, ignored)]
    assert not stray, stray


def open_descriptors() -> int:
    """File descriptors this process holds (Linux; -1 elsewhere)."""
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


def check_render(shown: np.ndarray) -> None:
    assert shown.dtype == np.uint8 and (shown.ndim == 2 or (shown.ndim == 3 and shown.shape[2] == 3)), \
        (shown.dtype, shown.shape)


def frames_to_try(frames: int) -> list[int]:
    """First, second and last frame: a damaged frame count must not make this loop for ever."""
    return sorted({f for f in (0, 1, frames - 1) if 0 <= f < frames})


def open_everything(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """What the viewer does with `path`: list it, then open and render every listed frame with every window.

    Returns (renders of the default window, error messages). Anything but a one-line RadcamError fails, and so does
    a warning that escapes (see no_stray_warnings).
    """
    with no_stray_warnings():
        return _open_everything(path)


def _open_everything(path: Path) -> tuple[list[np.ndarray], list[str]]:
    result = load([path])
    errors = [f"{s.path}: {s.reason}" for s in result.skipped]
    assert all(e.isprintable() for e in errors), errors
    renders = []
    for study in result.studies:
        for series in study.series:
            for instance in series.instances:
                for frame in frames_to_try(instance.frames):
                    try:
                        image = instance.image(frame)
                    except Exception as exc:  # noqa: BLE001 - check_error says which are allowed
                        errors.append(check_error(exc, path))
                        continue
                    shown = image.render()
                    check_render(shown)
                    for window in image.windows[1:4]:
                        check_render(image.render(window))
                    renders.append(shown)
    if not result.studies:
        # Not listed: opening it directly must fail the same clean way (the CLI `view` path).
        try:
            open_image(path)
        except Exception as exc:  # noqa: BLE001
            errors.append(check_error(exc, path))
        else:
            raise AssertionError(f"{path} was skipped by load() but open_image() opened it")
    return renders, errors


def view(capfd, path: Path, out: Path) -> tuple[int, str]:
    """`radcam-cli view PATH --out OUT` in this process: (exit code, everything written to stderr, fd 2 included).

    A warning escaping to stderr fails (see no_stray_warnings)."""
    from viewer.cli.main import main

    with no_stray_warnings():
        code = main(["view", str(path), "--out", str(out), "--overwrite"])
    _, err = capfd.readouterr()
    return code, err


def jpeg_lossless(source: Path, target: Path) -> Path:
    """`source` (a native DICOM file) written as JPEG Lossless SV1 by gdcm: pydicom has no JPEG encoder, and this is
    the syntax only gdcm decodes here (so damaged ones still reach it)."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(source))
    assert reader.Read(), source
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(target))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()
    return target
