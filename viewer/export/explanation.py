"""Writing one explained image: its panels (original, heatmap, overlay, side by side), the CAM and the JSON record.

Shared by `radcam-cli explain` and the viewer's File → Export, so both write the same files the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.errors import ExportError
from viewer.render import DEFAULTS, ColorMap, colorbar, compose_panels, heatmap, overlay, scale_image, with_colorbar
from viewer.render.strips import (
    BandCache,
    Rows,
    array_rows,
    cached_rows,
    colorbar_rows,
    compose_rows,
    heatmap_rows,
    overlay_rows,
    repeated_rows,
)

from .anonymize import AnonymizationSession, header_text
from .atomic import StagedSet, atomic_write
from .caption import ModelCard, caption_lines, warning
from .encode import encode_together
from .images import save_image
from .png import PNG_COMPRESSION
from .sidecar import write_sidecar

PARALLEL_PIXELS = 4_000_000  # from about 2000², an image's PNG panels are encoded on threads (smaller: in series)
PANELS = {"original": "Original", "heatmap": "Heatmap", "overlay": "Overlay", "side_by_side": "Side by side"}
# The side-by-side composite is STEM_panels.* on disk (the CLI contract's name).
PANEL_FILE_NAMES = {"original": "original", "heatmap": "heatmap", "overlay": "overlay", "side_by_side": "panels"}
FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg"), "tiff": ("TIFF", ".tif"),
           "dicom": ("DICOM Secondary Capture", ".dcm")}


@dataclass(frozen=True)
class OverlayStyle:
    """How the CAM is drawn over the image; changing it never needs the model."""

    threshold: float = DEFAULTS.cam_threshold  # the CAM threshold (not a label's decision threshold)
    alpha: float = DEFAULTS.opacity
    colormap: ColorMap = DEFAULTS.colormap
    contour: bool = DEFAULTS.contour

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "opacity": self.alpha, "colormap": self.colormap,
                "contour": self.contour}


def method_title(key: str) -> str:
    """'Grad-CAM' for 'gradcam': the method's title (the key itself for an unknown method)."""
    from viewer.cam import METHODS

    info = METHODS.get(key)
    return info.title if info else key


def target_score(result) -> float | None:
    """The explained target's probability (Target.probability over the result's predictions)."""
    if not result.predictions:
        return None
    return float(result.target.probability([p["score"] for p in result.predictions]))


def caption(result, threshold: float, model: str | ModelCard = "") -> str:
    """What the map is (method, target, score, model) and both thresholds, on two lines."""
    return caption_lines(result, ModelCard.of(model), threshold, method_title(result.method), target_score(result))


def explanation_stem(source: Path, frame: int = 0, index: int = 1, numbered: bool = False,
                     anonymize: bool = False) -> str:
    """The STEM of an export's file names: the source's name (numbered in a batch, _fN for frame N+1 > 1)."""
    # Anonymous exports never carry the source name: file names are often patient names or accession numbers.
    stem = f"radcam_{index:03d}" if anonymize else Path(source).stem
    if numbered and not anonymize:
        stem = f"{index:03d}_{stem}"
    return stem + (f"_f{frame + 1}" if frame else "")


def render_panels(base: np.ndarray, cam: np.ndarray, style: OverlayStyle, scale: float = 1.0) -> dict[str, np.ndarray]:
    """original / heatmap / overlay at the study's resolution (times `scale`)."""
    shown = {"original": base, "heatmap": heatmap(cam, style.colormap),
             "overlay": overlay(base, cam, threshold=style.threshold, alpha=style.alpha, colormap=style.colormap,
                                contour=style.contour)}
    if abs(scale - 1.0) > 1e-3:
        shown = {name: scale_image(pixels, scale) for name, pixels in shown.items()}
    return shown


def compose(shown: dict[str, np.ndarray], panel: str, text: str | None, header: str | None,
            style: OverlayStyle | None = None, warn: str | None = None) -> np.ndarray:
    """One panel, or the side-by-side composite, with the caption, warning and header bars when given; a map panel
    (heatmap, overlay, side by side) carries the colour bar with the CAM threshold marked when `style` is given."""
    names = ["original", "heatmap", "overlay"] if panel == "side_by_side" else [panel]
    images = [shown[name] for name in names]
    if style is not None and panel != "original":
        images[-1] = with_colorbar(images[-1], style.colormap, style.threshold)  # one bar serves both maps
    titles = [PANELS[name] for name in names] if len(names) > 1 else None
    if text or header or titles or warn:
        return compose_panels(images, titles, caption=text, header=header, warning=warn)
    return images[-1]


def panel_rows(base: np.ndarray, cam: np.ndarray, style: OverlayStyle, cache: BandCache | None = None
               ) -> dict[str, Rows]:
    """render_panels at scale 1 as Rows: each band made when a writer asks for it (a 10,000² image's heatmap and
    overlay are 300 MB each whole), once for every file it goes into when read through `cache`."""
    cache = cache or BandCache()
    return {"original": cached_rows(array_rows(base), "original", cache),
            "heatmap": heatmap_rows(cam, style.colormap, cache),
            "overlay": overlay_rows(base, cam, style.threshold, style.alpha, style.colormap, style.contour,
                                    cache=cache)}


def compose_banded(shown: dict[str, Rows], panel: str, text: str | None, header: str | None,
                   style: OverlayStyle | None = None, warn: str | None = None, bar: np.ndarray | Rows | None = None
                   ) -> Rows:
    """compose over Rows: the same pixels, band by band; `bar`: the colour bar, made once for every map panel."""
    names = ["original", "heatmap", "overlay"] if panel == "side_by_side" else [panel]
    images = [shown[name] for name in names]
    if style is not None and panel != "original":
        images[-1] = colorbar_rows(images[-1], style.colormap, style.threshold, bar)
    titles = [PANELS[name] for name in names] if len(names) > 1 else None
    if text or header or titles or warn:
        return compose_rows(images, titles, caption=text, header=header, warning=warn)
    return images[-1]


def _save_all(encodes: list[tuple[Path, Rows]], level: int, parallel: bool, cache: BandCache | None,
              alongside: Callable[[], None] | None = None) -> None:
    """Each (path, rows) as a PNG; a large image's panels together on threads, each band made once
    (viewer.export.encode: deflate is most of a 10,000² image's explain). `alongside`: another file's writing (the
    CAM array), on a thread of its own meanwhile. Every thread has ended before this returns or raises, so a failed
    set's temporaries are removed after the last write, never before it."""
    with ThreadPoolExecutor(1, thread_name_prefix="radcam-array") as pool:
        other = pool.submit(alongside) if alongside is not None and parallel else None
        if parallel and len(encodes) > 1:
            encode_together(encodes, level, cache)
        else:
            for path, rows in encodes:
                save_image(path, rows, png_compression=level)
    if other is not None:
        other.result()
    elif alongside is not None:
        alongside()


def panel_path(folder: Path, stem: str, panel: str, fmt: str) -> Path:
    return Path(folder) / f"{stem}_{PANEL_FILE_NAMES[panel]}{FORMATS[fmt][1]}"


def record(image, result, model: str | ModelCard, style: OverlayStyle, files: list[Path], out_of_domain=()) -> dict:
    """The JSON sidecar of one explanation (source, model, method, layer, target, scores, overlay, software) and
    why the image is outside the model's domain (viewer.model.domain; [] inside)."""
    card = ModelCard.of(model)
    return {"source": str(image.path), "frame": image.frame, "model": card.name, "method": result.method,
            "layer": result.layer, "target": result.target.as_dict(),
            "target_score": target_score(result), "predictions": result.predictions, "device": result.device,
            "empty_map": bool(result.empty), "timings_ms": result.timings_ms, "overlay": style.as_dict(),
            "files": [Path(path).name for path in files], "patient": image.metadata.get("patient"),
            "study_date": image.metadata.get("study_date"), "out_of_domain": list(out_of_domain),
            "not_for_diagnosis": card.not_for_diagnosis}


def planned_files(folder: Path, stem: str, *, panels=("original", "heatmap", "overlay", "side_by_side"),
                  fmt: str = "png", dicom_panels=(), dicom_objects=(), cam_array: bool = False,
                  sidecar: bool = True) -> list[Path]:
    """Every file write_explanation will write, known before anything is written."""
    from .dicom_objects import object_paths

    folder = Path(folder)
    files = [panel_path(folder, stem, panel, fmt) for panel in panels]
    files += [folder / f"{stem}_{PANEL_FILE_NAMES[panel]}_sc.dcm" for panel in dicom_panels]
    files += object_paths(folder, stem, dicom_objects)
    files += [folder / f"{stem}_cam.npy"] if cam_array else []
    return files + ([folder / f"{stem}.json"] if sidecar else [])


def refuse_existing(files: list[Path], overwrite: bool) -> None:
    """Check before the first write, so a refused export leaves no half-written set behind."""
    existing = [path for path in files if path.exists()]
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise ExportError(f"{existing[0]}{more} exist; use --overwrite to replace them")


def write_explanation(folder: Path, stem: str, image, base: np.ndarray, result, model: str | ModelCard,
                      style: OverlayStyle, *,
                      panels=("original", "heatmap", "overlay", "side_by_side"), fmt: str = "png",
                      captioned=("side_by_side",), dicom_panels=(), dicom_objects=(), cam_array: bool = False,
                      sidecar: bool = True, anonymize: bool = False, overwrite: bool = False, scale: float = 1.0,
                      instance_number: int = 1, session: AnonymizationSession | None = None, out_of_domain=(),
                      overlay_image: np.ndarray | None = None, overlay_caption: str | None = None,
                      view=None, window=None, findings=None, inverted: bool = False,
                      spatial: tuple[int, bool] = (0, False), png_compression: int = PNG_COMPRESSION) -> list[Path]:
    """Write an explained image's files into `folder`: STEM_<panel>.<ext> (the side-by-side one is STEM_panels),
    STEM_<panel>_sc.dcm for `dicom_panels`, STEM_gsps.dcm and STEM_pmap.dcm for `dicom_objects` ("gsps", "pmap":
    a presentation state with the reader's `window` (centre, width), and the CAM as a Parametric Map; both need a
    DICOM original), STEM_cam.npy, STEM.json; returns them in that order. `findings` ((label, score, CAM), All
    findings as shown) go into the presentation state in place of the one target; `inverted`: the reader flipped
    the grey scale; `spatial`: the reader turned the view (clockwise degrees, then a left-right flip);
    `png_compression`: the PNGs' zlib level (the same pixels at any level; 1, the default, is fast).

    `model` is a ModelCard (ModelCard.of(loaded)) or a bare name. Every map panel (heatmap, overlay, side by side)
    and every DICOM carries the colour bar, the caption (method, target, score, model, CAM threshold, decision
    threshold) and NOT FOR DIAGNOSIS when the model says so; panels in `captioned` also carry the caption and the
    patient/study line (without patient data when anonymising). Nothing is replaced unless `overwrite`; the set
    is written all or nothing."""
    from .dicom_objects import SUFFIXES, refuse_without_dicom, write_objects

    if fmt == "dicom" or dicom_panels:  # highdicom takes 0.2 s to import: only when a DICOM image is written
        from .dicom_sc import write_secondary_capture
    folder = Path(folder)
    refuse_without_dicom(image, dicom_objects, stem)
    files = planned_files(folder, stem, panels=panels, fmt=fmt, dicom_panels=dicom_panels,
                          dicom_objects=dicom_objects, cam_array=cam_array, sidecar=sidecar)
    stage = StagedSet(files, overwrite)  # refuses existing files before anything is written
    # PNG panels at the image's own size are made band by band as they are written: whole, a 10,000² image's
    # heatmap, overlay and side-by-side composite held 1.5 GB. A screen's overlay, a view or a scale: whole images.
    banded = (fmt == "png" and overlay_image is None and view is None and abs(scale - 1.0) <= 1e-3
              and base.shape[0] >= 48 and base.ndim in (2, 3))
    # No panel asked for (explain --outputs cam,json): no bands, colour bar or panels made (3-4 ms an image at 1024²).
    pictures = bool(panels) or bool(dicom_panels)
    cache = BandCache() if banded and pictures else None  # a band going into several files is made once
    bands = panel_rows(base, result.cam, style, cache) if banded and pictures else {}
    # One colour bar for every map panel, kept as its distinct rows (100 MB whole at 10,000 px tall).
    bar = repeated_rows(colorbar(base.shape[0], style.colormap, style.threshold)) if banded and pictures else None
    shown = {} if banded or not pictures else render_panels(base, result.cam, style, scale)
    if overlay_image is not None:  # the overlay as drawn for the screen (All findings), at the base's size
        shown["overlay"] = scale_image(overlay_image, scale) if abs(scale - 1.0) > 1e-3 else overlay_image
    if view is not None:  # viewer.app.export_view: turned as on screen, measurements burned in; the CAM array is not
        shown = {name: view(pixels) for name, pixels in shown.items()}
    card = ModelCard.of(model)
    text = caption(result, style.threshold, card)
    warn = warning(card)

    def summary(said: str) -> str:  # DICOM descriptions are one line
        return " | ".join([*said.splitlines(), *([warn] if warn else [])])

    header = header_text(image.metadata, anonymize=anonymize)
    # All or nothing: a full disk half-way leaves neither a partial set nor temporaries, so a rerun just works.
    encodes: list[tuple[Path, Rows]] = []
    with stage:
        for panel, path in zip(panels, files, strict=False):  # files: the panels' first, then the rest
            # DICOM always carries the caption: a PACS user sees the image without this tool. A map never leaves
            # without saying what it is.
            labelled = panel in captioned or fmt == "dicom"
            said = labelled or panel != "original"
            said_text = overlay_caption if overlay_caption and panel == "overlay" else text  # All findings' own
            if banded:
                encodes.append((stage.path(path), compose_banded(bands, panel, said_text if said else None,
                                                                 header if labelled else None, style,
                                                                 warn if said else None, bar)))
                continue
            pixels = compose(shown, panel, said_text if said else None, header if labelled else None, style,
                             warn if said else None)
            if fmt == "dicom":
                # The description says what the pixels say: All findings' caption for its overlay.
                write_secondary_capture(stage.path(path), pixels, image.dataset,
                                        f"RadCAM {PANELS[panel]}: {summary(said_text)}",
                                        instance_number=instance_number, anonymize=anonymize, session=session)
            else:
                save_image(stage.path(path), pixels, png_compression=png_compression)
        cam_file = folder / f"{stem}_cam.npy"

        def save_cam() -> None:  # 400 MB at 10,000²: written while the PNGs are encoded
            cam = np.ascontiguousarray(result.cam, np.float32)

            def write(temporary: Path) -> None:
                with open(temporary, "wb") as handle:  # np.save(path) would append .npy to the temporary name
                    np.save(handle, cam, allow_pickle=False)

            atomic_write(stage.path(cam_file), write)

        _save_all(encodes, png_compression, base.size >= PARALLEL_PIXELS, cache, save_cam if cam_array else None)
        for panel, path in zip(dicom_panels, files[len(panels):], strict=False):
            said_text = overlay_caption if overlay_caption and panel == "overlay" else text
            pixels = compose_banded(bands, panel, said_text, header, style, warn, bar).whole() if banded else \
                compose(shown, panel, said_text, header, style, warn)
            write_secondary_capture(stage.path(path), pixels,
                                    image.dataset, f"RadCAM {PANELS[panel]}: {summary(said_text)}",
                                    instance_number=instance_number, anonymize=anonymize, session=session)
        objects = {kind: folder / f"{stem}{suffix}" for kind, suffix in SUFFIXES.items() if kind in dicom_objects}
        if objects:
            said_text = text
            if findings:  # the presentation state holds every finding shown, not only the one target
                said_text = overlay_caption or "All findings: " + ", ".join(
                    f"{label} {score:.3f}" if score is not None else label for label, score, _cam in findings)
            write_objects(objects, image, result, card, method_title(result.method), target_score(result),
                          style.threshold, f"RadCAM: {summary(said_text)}", window=window, findings=findings,
                          anonymize=anonymize, session=session, inverted=inverted, spatial=spatial,
                          staged=stage.path)
        if sidecar:
            write_sidecar(stage.path(files[-1]), record(image, result, card, style, files, out_of_domain),
                          anonymize=anonymize)
    return files
