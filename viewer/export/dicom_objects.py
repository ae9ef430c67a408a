"""The DICOM objects an explanation can add beside its panels: a Grayscale Softcopy Presentation State (STEM_gsps.dcm:
the findings' contours and captions over the original) and a Parametric Map (STEM_pmap.dcm: the CAM's values).

Both reference the original, so both need a DICOM one: a PNG or JPEG study is refused in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viewer.errors import ExportError

from .anonymize import AnonymizationSession
from .caption import ModelCard

SUFFIXES = {"gsps": "_gsps.dcm", "pmap": "_pmap.dcm"}
TITLES = {"sc": "DICOM Secondary Capture", "gsps": "DICOM Presentation State", "pmap": "DICOM Parametric Map"}
Window = tuple[float, float]


def object_paths(folder: Path, stem: str, kinds: Sequence[str]) -> list[Path]:
    return [Path(folder) / f"{stem}{SUFFIXES[kind]}" for kind in SUFFIXES if kind in kinds]


def refuse_without_dicom(image: Any, kinds: Sequence[str], label: str) -> None:
    """One line before anything is written: a presentation state or map without a DICOM original to reference."""
    wanted = [TITLES[kind] for kind in SUFFIXES if kind in kinds]
    if wanted and getattr(image, "dataset", None) is None:
        raise ExportError(f"cannot write the {' and the '.join(wanted)} of {label}: it needs a DICOM original "
                          "to reference, and this image is not DICOM")


def window_of(image: Any, window: Any = None) -> Window | None:
    """The reader's window (viewer.io Window; the image's default when None) as (centre, width); None for colour
    images and VOI LUT windows, whose presentation state then keeps the original's own VOI."""
    if getattr(image, "is_color", False):
        return None
    chosen = window if window is not None else getattr(image, "default_window", None)
    if chosen is None or chosen.lut_index is not None or chosen.function != "LINEAR":
        return None
    return float(chosen.center), float(chosen.width)


def at_source_resolution(cam: np.ndarray, dataset: Any) -> np.ndarray:
    """`cam` (float) resized to the original's Rows x Columns when it is not already (bilinear, as displayed)."""
    import cv2

    cam = np.asarray(cam, dtype=np.float32)
    shape = (int(dataset.get("Rows") or cam.shape[0]), int(dataset.get("Columns") or cam.shape[1]))
    if cam.shape == shape:
        return cam
    return cv2.resize(cam, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def findings_of(shown: Sequence[tuple[str, float | None, np.ndarray]], method: str, card: ModelCard,
                threshold: float, dataset: Any) -> list:
    """GspsFindings from (label, score, CAM) triples: each CAM's contour at the CAM threshold, at the original's
    resolution."""
    from viewer.render.contours import contour_polygons

    from .gsps import GspsFinding

    return [GspsFinding(label, score, method, card.name,
                        contour_polygons(at_source_resolution(cam, dataset), threshold), card.not_for_diagnosis)
            for label, score, cam in shown]


def write_objects(paths: dict[str, Path], image: Any, result: Any, card: ModelCard, method: str,
                  score: float | None, threshold: float, description: str, *, window: Window | None,
                  findings: Sequence[tuple[str, float | None, np.ndarray]] | None = None,
                  anonymize: bool = False, session: AnonymizationSession | None = None, inverted: bool = False,
                  spatial: tuple[int, bool] = (0, False),
                  staged: Callable[[Path], Path] = lambda path: path) -> None:
    """Write the objects named in `paths` ({"gsps": path, "pmap": path}); `findings` (label, score, CAM) shown
    together (All findings) go into the presentation state in place of the one target."""
    source = image.dataset
    if "gsps" in paths:
        from .gsps import write_gsps

        shown = findings if findings else [(result.target.name, score, result.cam)]
        write_gsps(staged(paths["gsps"]), source, findings_of(shown, method, card, threshold, source), window,
                   description=description, anonymize=anonymize, session=session, frame=image.frame,
                   inverted=inverted, spatial=spatial)
    if "pmap" in paths:
        from .parametric_map import write_parametric_map

        write_parametric_map(staged(paths["pmap"]), source, at_source_resolution(result.cam, source),
                             label=result.target.name, method=method, model=card.name, anonymize=anonymize,
                             session=session)
