"""What an export writes: the panels of one explained image, composed and saved through viewer.export.

Qt-free on purpose: a single export runs on the IO thread, a batch on the model thread (it explains each image).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from viewer.export import header_text, save_image, write_secondary_capture, write_sidecar
from viewer.io import DisplayImage
from viewer.render import compose_panels, heatmap, overlay

from .export_dialog import FORMATS, PANELS, ExportOptions
from .session import OverlayStyle, method_title, target_score


@dataclass
class ExportItem:
    image: DisplayImage
    base: np.ndarray  # the original as displayed (window, inversion)
    explanation: object  # viewer.cam.CamResult
    model: str  # the model's name, for the JSON record
    index: int  # 1-based position in the export, used for anonymous names
    numbered: bool  # several images: names carry the index


def planned_files(options: ExportOptions, source: Path, frame: int, index: int, numbered: bool) -> list[Path]:
    """The files an export will write, known before anything is written (so overwrites can be confirmed)."""
    # Anonymous exports never carry the source name: file names are often patient names or accession numbers.
    stem = f"radcam_{index:03d}" if options.anonymize else Path(source).stem
    if numbered and not options.anonymize:
        stem = f"{index:03d}_{stem}"
    if frame:
        stem += f"_f{frame + 1}"
    suffix = FORMATS[options.format][1]
    files = [options.folder / f"{stem}_{panel}{suffix}" for panel in options.panels]
    return files + ([options.folder / f"{stem}.json"] if options.sidecar else [])


def caption(result, threshold: float) -> str:
    score = target_score(result)
    scored = f" {score:.3f}" if score is not None else ""
    return f"{method_title(result.method)} · {result.target['name']}{scored} · threshold {threshold:.2f}"


def panels(item: ExportItem, style: OverlayStyle, scale: float) -> dict[str, np.ndarray]:
    cam = item.explanation.cam
    shown = {"original": item.base, "heatmap": heatmap(cam, style.colormap),
             "overlay": overlay(item.base, cam, threshold=style.threshold, alpha=style.alpha,
                                colormap=style.colormap, contour=style.contour)}
    if abs(scale - 1.0) > 1e-3:
        shown = {name: _resize(pixels, scale) for name, pixels in shown.items()}
    return shown


def write_item(item: ExportItem, options: ExportOptions, style: OverlayStyle, scale: float,
               overwrite: bool) -> list[Path]:
    files = planned_files(options, item.image.path, item.image.frame, item.index, item.numbered)
    shown = panels(item, style, scale)
    text = caption(item.explanation, style.threshold)
    header = header_text(item.image.metadata, anonymize=options.anonymize) if options.caption else None
    written = []
    for panel, path in zip(options.panels, files):
        names = ["original", "heatmap", "overlay"] if panel == "side_by_side" else [panel]
        titles = [PANELS[name] for name in names] if len(names) > 1 else None
        if options.caption or titles:
            pixels = compose_panels([shown[name] for name in names], titles,
                                    caption=text if options.caption else None, header=header)
        else:
            pixels = shown[panel]
        if options.format == "dicom":
            write_secondary_capture(path, pixels, item.image.dataset, f"RadCAM {PANELS[panel]}: {text}",
                                    instance_number=item.index, anonymize=options.anonymize, overwrite=overwrite)
        else:
            save_image(path, pixels, overwrite=overwrite)
        written.append(path)
    if options.sidecar:
        written.append(write_sidecar(files[-1], record(item, style, written), overwrite=overwrite,
                                     anonymize=options.anonymize))
    return written


def record(item: ExportItem, style: OverlayStyle, files: list[Path]) -> dict:
    result = item.explanation
    return {"source": str(item.image.path), "frame": item.image.frame, "model": item.model,
            "method": result.method, "layer": result.layer, "target": result.target,
            "target_score": target_score(result), "predictions": result.predictions, "device": result.device,
            "timings_ms": result.timings_ms, "overlay": {"threshold": style.threshold, "opacity": style.alpha,
                                                        "colormap": style.colormap, "contour": style.contour},
            "files": [path.name for path in files], "patient": item.image.metadata.get("patient"),
            "study_date": item.image.metadata.get("study_date")}


def _resize(pixels: np.ndarray, scale: float) -> np.ndarray:
    height, width = pixels.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
