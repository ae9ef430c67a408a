"""The image on screen: decoding the selected frame, window/level (drag, presets), inversion, and redrawing.

A new frame is decoded on the IO thread (the newest selection wins) and handed to the state; window and inversion
changes go to the state too, and the original is rendered again from the state at most once per event-loop pass.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMainWindow

from viewer.app import Selection, ViewerState
from viewer.io import DisplayImage, Instance, Window

from .decoding import Decoder
from .jobs import QtJobs
from .views import ImageView, ViewGroup, window_after_drag


def decode(decoder: Decoder, path: Path, frame: int) -> tuple[DisplayImage, np.ndarray, float]:
    """On the IO thread: the frame, its default rendering (the model's input) and its value range."""
    image = decoder.image(path, frame)
    return image, image.render(), image.value_span()


class ImageController:
    def __init__(self, window: QMainWindow, state: ViewerState, jobs: QtJobs, views: dict[str, ImageView],
                 view_group: ViewGroup, decoder: Decoder, report: Callable[[str], None]):
        self.window, self.state, self.jobs, self.views, self.view_group = window, state, jobs, views, view_group
        self.decoder, self.report = decoder, report
        self.render_scheduled = False
        for view in views.values():
            view.windowDragged.connect(self.drag_window)
        state.connect("image", self._show)
        state.connect("window", self._schedule_redraw)
        state.connect("inverted", self._schedule_redraw)
        state.connect("base", lambda base: views["original"].set_pixels(base))

    def select(self, instance: Instance, frame: int) -> None:
        """Decode `frame` of `instance` on the IO thread; the newest selection wins."""
        self.state.selection = Selection(instance.path, frame)
        self.window.statusBar().showMessage(f"Decoding {self._name(instance)}…")
        for view in self.views.values():
            view.set_placeholder("Decoding…" if not view.has_image() else "")
        self.jobs.io.submit(lambda _reporter: decode(self.decoder, instance.path, frame),
                            lambda decoded: self._decoded(instance, decoded), self._failed, kind="decode",
                            replace=True)

    def _decoded(self, instance: Instance, decoded: tuple[DisplayImage, np.ndarray, float]) -> None:
        self.window.statusBar().showMessage(self._name(instance), 5000)
        self.state.show_image(*decoded)

    def _name(self, instance: Instance) -> str:
        """The file's name, or "the image" under Anonymise Display (file names are often patient names)."""
        return "the image" if self.state.anonymous else instance.path.name

    def _failed(self, message: str) -> None:
        for view in self.views.values():
            view.set_placeholder("")
        self.report(message)

    def _show(self, _image: DisplayImage) -> None:
        base = self.state.base
        assert base is not None  # show_image sets it with the image
        self.views["original"].set_pixels(base)
        self.views["heatmap"].set_pixels(np.zeros(base.shape[:2], dtype=np.uint8))
        self.views["overlay"].set_pixels(base)
        for view in self.views.values():
            view.set_placeholder("")
        self.view_group.fit()

    # -- window/level and inversion -------------------------------------------------------------------------

    def drag_window(self, dx: float, dy: float) -> None:
        window = self.state.window
        if self.state.image is None or window is None:
            return
        center, width = window_after_drag(window.center, window.width, dx, dy, self.state.value_span)
        self.state.window = Window(center=center, width=width, explanation="manual")

    def preset(self, number: int) -> None:
        """Keys 1-5: the file's windows in file order; 0: the automatic window (always the last)."""
        self.state.preset(number)

    def toggle_invert(self) -> None:
        self.state.inverted = not self.state.inverted

    def reset_view(self) -> None:
        self.state.reset_window()
        self.view_group.fit()

    def _schedule_redraw(self, _value: object = None) -> None:
        if not self.render_scheduled:
            self.render_scheduled = True
            QTimer.singleShot(0, self._redraw)

    def _redraw(self) -> None:
        """Render the original again after window/level or inversion; the overlay follows the state's `base`."""
        self.render_scheduled = False
        if self.state.image is not None:
            self.state.base = self.state.render_base()
