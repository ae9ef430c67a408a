"""Compare with prior (View → Compare with Prior, Ctrl+P): the image on screen beside the same patient's earlier
study from the worklist (viewer.app.priors), each with its overlay, zoom and pan shared, each with its own window.

The current side is the state's image: its window is the state's (a drag there is the same as on the normal
views), its overlay the explanation on screen. The prior is this controller's own: decoded on the IO thread
("prior-decode"), explained on the model thread as a job of its own kind ("prior") with the current map's method,
layer and target (the class the current map explains, so both maps answer the same question), drawn with the
state's overlay style, windowed by drags on it alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QWidget

from viewer.app import ExplainKey, ExplainRequest, Explanation, ViewerState
from viewer.app.priors import ScoreChange, captions, prior_of, score_changes, why_none
from viewer.app.review import Entry
from viewer.app.review_state import ReviewState
from viewer.app.session import ModelSession, draw
from viewer.export.explanation import method_title
from viewer.io import DisplayImage, Window
from viewer.render import OverlayRenderer

from .corner_text import window_lines
from .decoding import Decoder
from .jobs import QtJobs
from .prior_view import PriorView
from .views import ImageView, ViewGroup, window_after_drag

Painter = tuple[np.ndarray, np.ndarray, OverlayRenderer]  # (base, cam, renderer over them)


class PriorController(QObject):
    available = Signal(bool, str)  # whether the image on screen has a prior in the worklist; the reason when not
    toggled = Signal(bool)  # the layout is on or off

    def __init__(self, window: QMainWindow, state: ViewerState, review: ReviewState, jobs: QtJobs,
                 session: ModelSession, view: PriorView, normal: QWidget, decoder: Decoder,
                 report: Callable[[str], None]):
        super().__init__(window)
        self.window, self.state, self.review, self.jobs, self.session = window, state, review, jobs, session
        self.view, self.normal, self.decoder, self.report = view, normal, decoder, report
        self.active = False
        self.entry: Entry | None = None  # the image on screen, as a worklist entry
        self.prior: Entry | None = None
        self.prior_image: DisplayImage | None = None  # decoded, for self.prior
        self.prior_input: np.ndarray | None = None  # its default rendering: what the model sees
        self.prior_window: Window | None = None
        self.prior_span = 1.0  # its range of values (a window drag moves by a share of it)
        self.prior_key: ExplainKey | None = None  # the prior map wanted now
        self.prior_explanation: Explanation | None = None
        self._painters: dict[str, Painter] = {}
        self._redraw_scheduled = False
        self._decoding: Entry | None = None  # the prior a decode job is running for
        view.hide()
        view.current.windowDragged.connect(self._drag_current)
        view.prior.windowDragged.connect(self._drag_prior)
        for each in view.views():
            each.viewChanged.connect(self._corners)
        for name in ("image", "anonymous"):
            state.connect(name, self.refresh)
        for name in ("base", "style", "explanation"):
            state.connect(name, self._schedule_redraw)
        state.connect("explanation", self._explain_prior)
        review.connect("session", self.refresh)  # ("current" is not needed: the decoded image follows it)
        review.changed.connect(self._entry_changed)

    # -- which prior, and the layout on or off ----------------------------------------------------------------

    def refresh(self, _value: object = None) -> None:
        """Find the prior of the image on screen; switch the layout off (saying why) when there is none."""
        entry = self._entry_on_screen()
        prior = prior_of(entry, self.review.session.entries) if entry is not None and self.review.session else None
        self.entry = entry
        if prior is not self.prior:
            self.prior, self.prior_image, self.prior_input, self.prior_explanation = prior, None, None, None
            self.prior_key, self.prior_window = None, None
            self._painters.pop("prior", None)
            self.view.prior.set_pixels(None)
        self.available.emit(prior is not None, "" if prior is not None else why_none(entry))
        if self.active and prior is None:
            self.show(False)
            self.window.statusBar().showMessage(f"Compare with Prior is off: {why_none(entry)}", 8000)
        elif self.active:
            self._load_prior()
            self._schedule_redraw()  # a new image on the current side (show_image announces no base of its own)
            self._update_text()

    def group(self, normal: ViewGroup) -> ViewGroup:
        """The views zoom keys act on: the pair while comparing, else the normal views."""
        return self.view.group if self.active else normal

    def show(self, on: bool) -> None:
        """The layout on or off; on is refused, with the reason in the status bar, without a prior."""
        if on:
            self.refresh()
            if self.prior is None:
                self.window.statusBar().showMessage(f"No prior to compare with: {why_none(self.entry)}", 8000)
                on = False
        self.active = on
        self.normal.setVisible(not on)
        self.view.setVisible(on)
        if on:
            self._load_prior()
            self._schedule_redraw()
            self._update_text()
        else:
            self.jobs.io.cancel("prior-decode")
            self.jobs.model.cancel("prior")
            self._decoding = None
            self.prior_key = self.prior_explanation.key if self.prior_explanation else None  # asked again next time
        self.toggled.emit(on)

    def _entry_on_screen(self) -> Entry | None:
        image, session = self.state.image, self.review.session
        if image is None or session is None:
            return None
        entry = self.review.entry()
        if entry is not None and (entry.path, entry.frame) == (str(image.path), image.frame):
            return entry
        return next((e for e in session.entries if (e.path, e.frame) == (str(image.path), image.frame)), None)

    # -- the prior image: decoded on the IO thread, explained on the model thread ------------------------------

    def _load_prior(self) -> None:
        prior = self.prior
        if prior is None or self.prior_image is not None:
            self._explain_prior()
            return
        if self._decoding is prior:
            return  # already on its way
        decoder = self.decoder

        def job(_reporter: object) -> tuple[Entry, DisplayImage, np.ndarray, float]:
            image = decoder.image(Path(prior.path), prior.frame)
            return prior, image, image.render(), image.value_span()

        self.view.prior.set_placeholder("Decoding the prior…")
        self._decoding = prior
        self.jobs.io.submit(job, self._decoded, self._failed, kind="prior-decode", replace=True)

    def _decoded(self, decoded: tuple[Entry, DisplayImage, np.ndarray, float]) -> None:
        prior, image, model_input, span = decoded
        self._decoding = None
        if prior is not self.prior:
            return
        self.prior_image, self.prior_input, self.prior_span = image, model_input, span
        self.prior_window = None if image.is_color else image.default_window
        self.view.prior.set_placeholder("")
        self._redraw()
        self.view.group.follow(self.view.current)
        self._explain_prior()

    def _explain_prior(self, _value: object = None) -> None:
        """The prior's map for what the current map on screen explains: its method, layer, model and target class
        (its top class resolved, so both maps answer the same question). No current map (auto-explain off, or
        the image just changed): no prior map either, until there is one."""
        state, image, prior, shown = self.state, self.prior_image, self.prior, self.state.explanation
        if not self.active or image is None or prior is None or self.prior_input is None or shown is None:
            return
        settings = shown.key
        key = ExplainKey(prior.path, prior.frame, settings.method, shown.result.target.index, settings.layer,
                         settings.model)
        if key == self.prior_key:
            return
        self.prior_key = key
        base = self._prior_base()
        assert base is not None
        request = ExplainRequest(key=key, pixels=self.prior_input, base=base, style=state.style)
        session = self.session
        self.jobs.model.submit(lambda reporter: session.explain(request, reporter), self._explained, self._failed,
                               kind="prior", replace=True)
        self._update_text()

    def _explained(self, explanation: Explanation) -> None:
        if explanation.key != self.prior_key:
            return
        self.prior_explanation = explanation
        self._redraw()
        self._update_text()

    def _failed(self, message: str) -> None:
        self._decoding = None
        self.view.prior.set_placeholder("")
        self.report(f"Prior: {message}")

    def _entry_changed(self, entry_id: str) -> None:
        """Pre-scan scores arrived for one of the two: the score change may now be known."""
        if self.active and entry_id in {e.id for e in (self.entry, self.prior) if e is not None}:
            self._update_text()

    # -- drawing -------------------------------------------------------------------------------------------------

    def _prior_base(self) -> np.ndarray | None:
        image = self.prior_image
        return None if image is None else image.render(window=self.prior_window)

    def _schedule_redraw(self, _value: object = None) -> None:
        if self.active and not self._redraw_scheduled:
            self._redraw_scheduled = True
            QTimer.singleShot(0, self._redraw)

    def _redraw(self) -> None:
        """Both sides from what they hold now: base (window), map, and the state's overlay style."""
        self._redraw_scheduled = False
        if not self.active:
            return
        shown = self.state.explanation
        self.view.current.set_pixels(self._paint("current", self.state.base, shown.result.cam if shown else None))
        explained = self.prior_explanation
        self.view.prior.set_pixels(self._paint("prior", self._prior_base(),
                                               explained.result.cam if explained else None))
        self._corners()

    def _paint(self, side: str, base: np.ndarray | None, cam: np.ndarray | None) -> np.ndarray | None:
        if base is None or cam is None or cam.shape != base.shape[:2]:
            return base
        kept = self._painters.get(side)
        if kept is None or kept[0] is not base or kept[1] is not cam:  # a new window or map: a new renderer
            kept = (base, cam, OverlayRenderer(base, cam))
            self._painters[side] = kept
        return draw(kept[2], self.state.style)

    def _update_text(self) -> None:
        entry, prior = self.entry, self.prior
        if entry is None or prior is None:
            return
        self.view.set_titles(*captions(entry, prior, self.state.anonymous))
        changes = self._changes()
        if changes:
            text = "Score change, prior → current:  " + "   ·   ".join(change.text() for change in changes)
        elif self.state.model is None:
            text = "Open a model (Ctrl+M) to compare the maps and the model's scores"
        elif self.state.explanation is None:
            text = "Explain (Ctrl+Return) to compare the maps and the model's scores"
        else:
            text = "Explaining the prior…"
        self.view.set_changes(text)
        self._corners()

    def _changes(self) -> list[ScoreChange]:
        """From the two maps on screen (the loaded model), else from the worklist's pre-scan scores."""
        shown, prior = self.state.explanation, self.prior_explanation
        if shown is not None and prior is not None and shown.key.model == prior.key.model:  # never two models
            return score_changes({row["name"]: row["score"] for row in shown.result.predictions},
                                 {row["name"]: row["score"] for row in prior.result.predictions})
        if self.entry is not None and self.prior is not None:
            return score_changes(self.entry.predictions, self.prior.predictions)
        return []

    def _corners(self, _value: object = None) -> None:
        if not self.active or self.entry is None or self.prior is None:
            return
        sides: tuple[tuple[ImageView, Entry, Window | None, Explanation | None], ...] = (
            (self.view.current, self.entry, self.state.window, self.state.explanation),
            (self.view.prior, self.prior, self.prior_window, self.prior_explanation))
        for view, entry, window, explained in sides:
            result = explained.result if explained else None
            view.set_corner_text({
                "top_left": [f"{method_title(result.method)} · {result.target.name}" if result else ""],
                "top_right": [" · ".join(v for v in (entry.modality, entry.view) if v)],
                "bottom_left": window_lines(window, False),
                "bottom_right": [f"Zoom {round(view.zoom * 100)} %" if view.has_image() else ""]})

    # -- window/level: each side its own ------------------------------------------------------------------------

    def reset(self) -> None:
        """R: the prior back to its file's window, and both films fitted (the state's reset does the current's
        window)."""
        if self.prior_image is not None and not self.prior_image.is_color:
            self.prior_window = self.prior_image.default_window
            self._schedule_redraw()
        self.view.group.fit()

    def _drag_current(self, dx: float, dy: float) -> None:
        """The current side's window is the state's: the normal views show the same window afterwards."""
        window = self.state.window
        if self.state.image is None or window is None:
            return
        center, width = window_after_drag(window.center, window.width, dx, dy, self.state.value_span)
        self.state.window = Window(center=center, width=width, explanation="manual")

    def _drag_prior(self, dx: float, dy: float) -> None:
        image, window = self.prior_image, self.prior_window
        if image is None or window is None:
            return
        center, width = window_after_drag(window.center, window.width, dx, dy, self.prior_span)
        self.prior_window = Window(center=center, width=width, explanation="manual")
        self._schedule_redraw()
