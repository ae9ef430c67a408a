"""ViewerState: what the viewer shows, in one Qt-free object that emits an event when a value changes.

Controllers change it (a decoded frame, a window drag, a result from the model thread); widgets and other
controllers subscribe to its events and redraw. The stale-result rule lives here and nowhere else:
an explanation is shown only if its key is the current one (image, frame, settings, model), and a trust result
only if it was made for the explanation on screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from viewer.export.explanation import OverlayStyle
from viewer.io import DisplayImage, Window

from .events import HasEvents, field
from .findings import ShownFindings
from .measure import Measurement
from .orientation import Orientation
from .requests import ExplainKey, ExplainSettings, Explanation, ModelInfo

Box = tuple[int, int, int, int]  # x, y, width, height in image pixels


@dataclass(frozen=True)
class Selection:
    """The image the user picked in the browser: which file and which frame."""

    path: Path
    frame: int = 0


class ViewerState(HasEvents):
    """Each field emits `events[name]` with its new value when it changes (see viewer.app.events)."""

    selection = field[Selection | None](None)  # asked for; `image` follows once it is decoded
    image = field[DisplayImage | None](None)  # the frame on screen
    model_input: np.ndarray | None = None  # the frame's default rendering: what the model sees
    value_span: float = 1.0  # the frame's range of values (window drags move by a share of it)
    window = field[Window | None](None)  # None for colour images
    inverted = field(False)  # on top of the file's own polarity (MONOCHROME1)
    base = field[np.ndarray | None](None)  # the original as displayed (window, inversion)
    settings = field(ExplainSettings())  # method, target, layer: a change needs the model
    style = field(OverlayStyle())  # threshold, opacity, colour map, contour: a change only redraws
    model = field[ModelInfo | None](None)
    model_loading = field(False)
    explanation = field[Explanation | None](None)  # the one on screen, current or not
    trust_report = field[dict[str, Any] | None](None)  # the check of the explanation on screen
    box = field[Box | None](None)  # the user's pointing box
    anonymous = field(False)  # display anonymisation: no names, dates or file names on screen
    all_findings = field(False)  # the overlay shows every finding above its decision threshold (viewer.app.findings)
    findings = field[ShownFindings | None](None)  # their maps, with the key of the explanation they go with
    orientation = field(Orientation())  # flips and quarter turns of every panel and export
    measurements = field[tuple[Measurement, ...]](())  # rulers and CTRs on the image shown, in its pixel grid

    def __init__(self) -> None:
        super().__init__()
        self.dropped_results = 0  # explanations that arrived for an image or settings no longer shown
        self.explain_pending = False  # explain as soon as the model has loaded (start-up, Open with, Open Model)

    # -- the current image ----------------------------------------------------------------------------------

    def show_image(self, image: DisplayImage, model_input: np.ndarray, span: float) -> None:
        """A newly decoded frame: default window, not inverted, no explanation, no check, no box; then `image`
        (which also announces the window, the inversion and the base: no separate events for them)."""
        self.model_input, self.value_span = model_input, span
        self.explanation = None
        self.trust_report = None
        self.box = None
        self.measurements = ()  # kept per image while it is shown
        self.orientation = Orientation()  # the next film is seen as stored
        self.__dict__["window"] = None if image.is_color else image.default_window  # announced with the image
        self.__dict__["inverted"] = False
        self.__dict__["base"] = model_input  # the default window, not inverted: what the model gets
        self.__dict__["image"] = image
        self.events["image"].emit(image)  # even for the same frame decoded again: everything above was reset

    def render_base(self) -> np.ndarray | None:
        """The image as displayed now (window, inversion); None without an image."""
        if self.image is None:
            return None
        return self.image.render(window=self.window, invert=self.image.invert != self.inverted)

    def reset_window(self) -> None:
        if self.image is not None:
            self.window = None if self.image.is_color else self.image.default_window
            self.inverted = False

    def preset(self, number: int) -> Window | None:
        """Keys 1-5: the file's windows in file order; 0: the automatic window (always the last). None: no such."""
        if self.image is None or self.image.is_color:
            return None
        windows = self.image.windows
        chosen = windows[-1] if number == 0 else (windows[number - 1] if number <= len(windows) - 1 else None)
        if chosen is not None:
            self.window = chosen
        return chosen

    # -- the stale-result rule ------------------------------------------------------------------------------

    def key(self) -> ExplainKey | None:
        """What an explanation asked for now would be made for; None without an image."""
        if self.image is None:
            return None
        s = self.settings
        return ExplainKey(str(self.image.path), self.image.frame, s.method, s.target, s.layer,
                          str(self.model.path) if self.model else None)

    def current(self, key: ExplainKey) -> bool:
        """Whether a result made for `key` still fits what is shown (image, frame, settings, model)."""
        return key == self.key()

    def on_screen(self, key: ExplainKey) -> bool:
        """Whether a check or comparison made for `key` is about the explanation on screen."""
        return self.explanation is not None and self.explanation.key == key

    def showing(self) -> Explanation | None:
        """The explanation on screen when it is also current (what a check or a comparison may start from)."""
        explanation = self.explanation
        return explanation if explanation is not None and self.current(explanation.key) else None

    def accept(self, explanation: Explanation) -> bool:
        """Show `explanation` if it is current; a stale one is counted and dropped."""
        if not self.current(explanation.key):
            self.dropped_results += 1
            return False
        self.trust_report = None  # a new map: the old check no longer applies
        self.explanation = explanation
        return True

    def accept_report(self, key: ExplainKey, report: dict[str, Any]) -> bool:
        if not self.on_screen(key):
            return False
        self.trust_report = report
        return True
