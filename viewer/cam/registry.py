"""The CAM methods: one tuple of method modules (each has INFO: MethodInfo and compute(ctx) -> map); METHODS,
ALIASES and resolve_method() are read from it, so a method's name and aliases are written once, in its INFO.
The tuple's order is the order users see (radcam-cli methods, the method menu, the comparison grid)."""

from __future__ import annotations

import importlib
from types import ModuleType

from viewer.cam.base import MethodInfo
from viewer.errors import CamError

# The method modules of viewer/cam, in the order users see them; adding a method is its file and a line here.
MODULES: tuple[ModuleType, ...] = tuple(importlib.import_module(f"viewer.cam.{module}") for module in (
    "original_cam",
    "gradcam",
    "gradcampp",
    "xgradcam",
    "layercam",
    "hirescam",
    "scorecam",
    "faster_scorecam",
    "ablationcam",
    "eigencam",
    "guided_backprop",
    "guided_gradcam",
))

_BY_NAME: dict[str, ModuleType] = {module.INFO.name: module for module in MODULES}
METHODS: dict[str, MethodInfo] = {name: module.INFO for name, module in _BY_NAME.items()}
ALIASES: dict[str, str] = {alias: info.name for info in METHODS.values() for alias in info.aliases}


def get_method(name: str) -> ModuleType:
    """The method module for `name` or an alias."""
    return _BY_NAME[resolve_method(name)]


def resolve_method(name: str) -> str:
    """The canonical method name for `name` or an alias (case-insensitive); unknown → CamError listing them."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in _BY_NAME:
        raise CamError(f"unknown CAM method {name!r}; choose one of {', '.join(_BY_NAME)} (alias gradcam++)")
    return key
