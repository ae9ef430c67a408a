"""METHODS: every CAM method by name (one module each), aliases, resolve_method()."""

from __future__ import annotations

import importlib

from viewer.cam.engine import MethodInfo
from viewer.errors import CamError

_MODULES = {
    "cam": "cam", "gradcam": "gradcam", "gradcampp": "gradcampp", "xgradcam": "xgradcam",
    "layercam": "layercam", "hirescam": "hirescam", "scorecam": "scorecam", "faster-scorecam": "faster_scorecam",
    "eigencam": "eigencam", "guided-backprop": "guided_backprop", "guided-gradcam": "guided_gradcam",
}
ALIASES = {
    "gradcam++": "gradcampp", "grad-cam++": "gradcampp", "grad-cam": "gradcam", "score-cam": "scorecam",
    "fasterscorecam": "faster-scorecam", "faster_scorecam": "faster-scorecam", "eigen-cam": "eigencam",
    "guided_backprop": "guided-backprop", "guidedbackprop": "guided-backprop", "guided_gradcam": "guided-gradcam",
    "layer-cam": "layercam", "hires-cam": "hirescam", "xgrad-cam": "xgradcam",
}


def get_method(name: str):
    return importlib.import_module(f"viewer.cam.{_MODULES[resolve_method(name)]}")


def resolve_method(name: str) -> str:
    """The canonical method name for `name` or an alias (case-insensitive); unknown → CamError listing them."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in _MODULES:
        raise CamError(f"unknown CAM method {name!r}; choose one of {', '.join(_MODULES)} (alias gradcam++)")
    return key


METHODS: dict[str, MethodInfo] = {name: get_method(name).INFO for name in _MODULES}
