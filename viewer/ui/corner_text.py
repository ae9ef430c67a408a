"""The text in the corners of each view, as radiologists expect it: who and when on top, window and zoom below."""

from __future__ import annotations

from typing import TYPE_CHECKING

from viewer.io import DisplayImage, Window

from .browser import format_date, patient_line

if TYPE_CHECKING:
    from viewer.app import ViewerState

    from .views import ImageView, ViewGroup


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
    return {"top_left": [f"CAM threshold {threshold:.2f}", f"Opacity {opacity:.0%}"], "top_right": [colormap],
            "bottom_left": window_lines(window, inverted), "bottom_right": [f"Zoom {zoom} %"]}


def zoom_percent(view: ImageView) -> int:
    return int(round(view.zoom * 100))


class CornerText:
    """Keeps the three views' corner text in step with the state (image, window, map, style) and each view's zoom:
    zoomChanged fires on every scale change (wheel, keys, Fit, 1:1, a resize, a layout change), so the figure is
    never stale, and each view shows its own (fitted views of different sizes have different zooms)."""

    def __init__(self, state: ViewerState, views: dict[str, ImageView], view_group: ViewGroup) -> None:
        self.state, self.views, self.view_group = state, views, view_group
        for name in ("image", "window", "inverted", "explanation", "style", "anonymous", "orientation"):
            state.connect(name, self.update)
        for view in views.values():
            view.zoomChanged.connect(self.update)

    def update(self, _value: object = None) -> None:
        from viewer.export.explanation import method_title, target_score

        state = self.state
        image = state.image
        if image is None:
            return
        views = self.views
        views["original"].set_corner_text(original(image, state.window, state.inverted,
                                                   zoom_percent(views["original"]), state.anonymous))
        result = state.explanation.result if state.explanation else None
        target = f"{result.target.name}" if result else ""
        if result:
            score = target_score(result)
            target += f"  {score:.3f}" if score is not None else ""
        self.views["heatmap"].set_corner_text(heatmap(method_title(result.method) if result else "", target,
                                                      result.layer if result else "", zoom_percent(views["heatmap"])))
        style = state.style
        corners = overlay(style.threshold, style.alpha, style.colormap, None if image.is_color else state.window,
                          state.inverted, zoom_percent(views["overlay"]))
        if views["original"].isHidden():  # the overlay alone (one panel): it says whose image it is too
            first = original(image, state.window, state.inverted, zoom_percent(views["overlay"]), state.anonymous)
            corners = {"top_left": first["top_left"] + corners["top_left"],
                       "top_right": first["top_right"] + corners["top_right"],
                       "bottom_left": corners["bottom_left"], "bottom_right": first["bottom_right"]}
        views["overlay"].set_corner_text(corners)
        note = state.orientation.describe()  # 'Flipped H', 'Rotated 90°': every panel is turned alike, each says so
        for view in views.values() if note else ():
            lines = [*view.corner_text.get("bottom_right", []), *note]
            view.set_corner_text({**view.corner_text, "bottom_right": lines})
