"""Viewer figures that need no model: DICOM open, window/level and the overlay at 2048×2048.

The test files are generated (a 2048×2048 12-bit chest phantom, written uncompressed and as JPEG 2000 lossless),
so the benchmark works on a fresh install without the test fixtures.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np

from .measure import SAMPLE_MS, Timing, time_ms

SIZE = 2048


def write_test_dicoms(folder: Path, size: int = SIZE) -> dict[str, Path]:
    """{'uncompressed': path, 'jpeg2000': path}: the same size×size 12-bit CR phantom in both encodings."""
    from pydicom import Dataset, FileMetaDataset
    from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

    from viewer.demo.phantom import make_phantom
    from viewer.demo.studies import BITS_STORED, detector_values

    stored = detector_values(make_phantom(4, size, ["nodule"]).image).astype(np.uint16)
    paths = {}
    for kind in ("uncompressed", "jpeg2000"):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = ComputedRadiographyImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName, ds.PatientID = "BENCH^SYNTHETIC", "RADCAM-BENCH"
        ds.Modality = "CR"
        ds.SeriesNumber = ds.InstanceNumber = 1
        ds.set_pixel_data(stored, "MONOCHROME2", BITS_STORED, generate_instance_uid=False)
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
        if kind == "jpeg2000":
            ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg", generate_instance_uid=False)
        paths[kind] = folder / f"bench_{size}_{kind}.dcm"
        ds.save_as(paths[kind], enforce_file_format=True)
    return paths


def smooth_cam(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A CAM-like float32 map in [0, 1] at `shape`: a 7×7 random grid upsampled, as a real map is."""
    grid = np.random.default_rng(seed).random((7, 7)).astype(np.float32)
    cam = cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return (cam - cam.min()) / (cam.max() - cam.min())


def display_figures(folder: Path, repeat: int) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """(figures, runs per figure, notes) for DICOM open, window/level and the overlay."""
    from viewer.io import Window, open_image
    from viewer.render import OverlayRenderer

    paths = write_test_dicoms(folder)
    timings: dict[str, Timing] = {
        # open_image decodes the frame; render() makes the first picture (default window): what a click shows.
        "dicom_open_ms": time_ms(lambda: open_image(paths["uncompressed"]).render(), repeat, sample_ms=SAMPLE_MS),
        "dicom_open_j2k_ms": time_ms(lambda: open_image(paths["jpeg2000"]).render(), repeat, sample_ms=SAMPLE_MS),
    }
    image = open_image(paths["uncompressed"])
    default = image.default_window
    centers = itertools.cycle([default.center + d for d in (-300, -150, -50, 50, 150, 300, 0)]).__next__
    timings["window_level_ms"] = time_ms(
        lambda: image.render(Window(centers(), default.width, "bench")), repeat, sample_ms=SAMPLE_MS)

    base = image.render()
    cam = smooth_cam(base.shape[:2])
    renderer = OverlayRenderer(base, cam)
    thresholds = itertools.cycle([0.3, 0.4, 0.45, 0.55, 0.6, 0.7, 0.5]).__next__
    timings["overlay_render_ms"] = time_ms(lambda: renderer.render(thresholds()), repeat, sample_ms=SAMPLE_MS)
    timings["overlay_render_cold_ms"] = time_ms(lambda: OverlayRenderer(base, cam).render(thresholds()), repeat,
                                                sample_ms=SAMPLE_MS)

    figures = {name: t.median_ms for name, t in timings.items()}
    figures["dicom_j2k_over_uncompressed"] = figures["dicom_open_j2k_ms"] / figures["dicom_open_ms"]
    notes = {
        "dicom_open_ms": f"open_image + default-window render of a {SIZE}x{SIZE} 12-bit CR, explicit VR little endian",
        "dicom_open_j2k_ms": "the same image as JPEG 2000 lossless (pylibjpeg-openjpeg)",
        "window_level_ms": f"DisplayImage.render with a new window, {SIZE}x{SIZE}",
        "overlay_render_ms": f"OverlayRenderer.render after a threshold change, {SIZE}x{SIZE}",
        "overlay_render_cold_ms": f"a new OverlayRenderer (colours, blend) and its first render, {SIZE}x{SIZE}",
    }
    return figures, {name: t.runs for name, t in timings.items()}, notes
