"""The text in the corners of each view, as radiologists expect it: who and when on top, window and zoom below."""

from __future__ import annotations

from viewer.io import DisplayImage, Window

from .browser import format_date, patient_line


def window_lines(window: Window | None, inverted: bool) -> list[str]:
    """`inverted` means inverted by the user, not the file's own MONOCHROME1 polarity."""
    if window is None:
        return ["Inverted"] if inverted else []
    name = window.explanation + (" · inverted" if inverted else "")
    return [name, f"W {window.width:.0f}  L {window.center:.0f}"]


def original(image: DisplayImage, window: Window | None, inverted: bool, zoom: int,
             anonymous: bool) -> dict[str, list[str]]:
    meta = image.metadata or {}
    patient = meta.get("patient") or {}
    study = " · ".join(v for v in (meta.get("modality"), meta.get("view_position"), meta.get("body_part")) if v)
    top_left = [] if anonymous else [patient_line(patient), f"ID {patient['id']}" if patient.get("id") else ""]
    top_right = [study, "" if anonymous else format_date(meta.get("study_date")),
                 f"Frame {image.frame + 1}/{image.frames}" if image.frames > 1 else ""]
    return {"top_left": top_left, "top_right": top_right,
            "bottom_left": window_lines(None if image.is_color else window, inverted),
            "bottom_right": [f"{image.shape[1]}×{image.shape[0]}", f"Zoom {zoom} %"]}


def heatmap(method: str, target: str, layer: str, zoom: int) -> dict[str, list[str]]:
    return {"top_left": [method], "top_right": [target], "bottom_left": [f"Layer {layer}" if layer else ""],
            "bottom_right": [f"Zoom {zoom} %"]}


def overlay(threshold: float, opacity: float, colormap: str, window: Window | None, inverted: bool,
            zoom: int) -> dict[str, list[str]]:
    return {"top_left": [f"Threshold {threshold:.2f}", f"Opacity {opacity:.0%}"], "top_right": [colormap],
            "bottom_left": window_lines(window, inverted), "bottom_right": [f"Zoom {zoom} %"]}
