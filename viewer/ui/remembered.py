"""What the window remembers between runs, as one table: the settings key, its default, how to read the value
from the window and how to put it back. MainWindow restores the rows in order and saves them all on close."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QComboBox

from viewer.render.defaults import DEFAULTS

from .settings import Settings

BYTES = object()  # the default of a row stored as Qt's bytes (geometry, splitter state)


@dataclass(frozen=True)
class Remembered:
    key: str
    default: Any
    read: Callable[[Any], Any]  # window -> value
    write: Callable[[Any, Any], None]  # (window, value)


def _select_text(combo: QComboBox, text: str) -> None:
    index = combo.findText(text)
    if index >= 0:
        combo.setCurrentIndex(index)


def _check(action: Any, value: bool, then: Callable[[], None]) -> None:
    action.setChecked(value)
    then()


def _geometry(w: Any, value: Any) -> None:
    if value is None:
        w.resize(1560, 940)
    else:
        w.restoreGeometry(value)


def _splitter(w: Any, value: Any) -> None:
    if value is not None:
        w.splitter.restoreState(value)


TABLE = (
    Remembered("window/geometry", BYTES, lambda w: w.saveGeometry(), _geometry),
    Remembered("window/splitter", BYTES, lambda w: w.splitter.saveState(), _splitter),
    Remembered("explain/method", "gradcam", lambda w: w.controls.method_key(), lambda w, v: w.controls.set_method(v)),
    Remembered("explain/colormap", DEFAULTS.colormap, lambda w: w.controls.colormap.currentText(),
               lambda w, v: _select_text(w.controls.colormap, v)),
    Remembered("explain/threshold", round(DEFAULTS.cam_threshold * 100), lambda w: w.controls.threshold.value(),
               lambda w, v: w.controls.threshold.setValue(v)),
    Remembered("explain/opacity", round(DEFAULTS.opacity * 100), lambda w: w.controls.opacity.value(),
               lambda w, v: w.controls.opacity.setValue(v)),
    Remembered("explain/contour", DEFAULTS.contour, lambda w: w.controls.contour.isChecked(),
               lambda w, v: w.controls.contour.setChecked(v)),
    Remembered("explain/auto", True, lambda w: w.controls.auto_explain.isChecked(),
               lambda w, v: w.controls.auto_explain.setChecked(v)),
    Remembered("trust/automatic", False, lambda w: w.trust_panel.automatic.isChecked(),
               lambda w, v: w.trust_panel.automatic.setChecked(v)),
    Remembered("view/corner_text", True, lambda w: w.menus.corner_text.isChecked(),
               lambda w, v: _check(w.menus.corner_text, v, w.show_corner_text)),
    Remembered("view/anonymous", False, lambda w: w.menus.anonymous.isChecked(),
               lambda w, v: _check(w.menus.anonymous, v, w.anonymise)),
    Remembered("view/layout", 3, lambda w: w.layout_count, lambda w, v: w.set_layout(v)),
    Remembered("pacs/dock", False, lambda w: not w.pacs.dock.isHidden(), lambda w, v: w.pacs.show_dock(bool(v))),
)


def restore(window: Any, settings: Settings) -> None:
    for row in TABLE:
        row.write(window, settings.bytes(row.key) if row.default is BYTES else settings.get(row.key, row.default))


def save(window: Any, settings: Settings) -> None:
    for row in TABLE:
        settings.set(row.key, row.read(window))
    settings.sync()
