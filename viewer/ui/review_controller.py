"""Reviewing: the Review tab, the verdict keys, the reader's marks, the seconds spent on each image, and which
entry of the session is on screen.

Everything the reader decides goes through ReviewState (viewer.app.review_state), which writes the session file
before the call returns. The entry on screen follows `review.current` (J/K, the worklist) and the image picked in
the study browser follows back; the next unreviewed image is decoded and explained ahead (review_prefetch).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow, QMenu

from viewer.app import Explanation, ViewerState
from viewer.app.review import Entry, Mark, Verdict
from viewer.app.review_state import ReviewState
from viewer.app.session import ModelSession
from viewer.app.state import Selection
from viewer.errors import RadcamError
from viewer.io import Instance

from .decoding import Decoder
from .jobs import QtJobs
from .review_marks import MarkTool
from .review_panel import FindingRow, ReviewPanel
from .review_prefetch import Prefetcher
from .views import ImageView

NO_SESSION = "No review session: open studies, or File → New Session… / Open Session…"
UNSAVED = "This session is not saved yet: File → New Session… saves it, with every verdict from then on"
OFF_SCREEN = "This image is not on screen yet (still opening, or it could not be opened): nothing was recorded"
NO_SCORES = "The model's scores for this image are not in yet (its map brings them): nothing was recorded"
TICK_MS = 1000  # the seconds label, and machine-made changes saved at most this often


class ReviewController(QObject):
    def __init__(self, window: QMainWindow, state: ViewerState, review: ReviewState, jobs: QtJobs,
                 session: ModelSession, decoder: Decoder, panel: ReviewPanel, views: dict[str, ImageView],
                 select: Callable[[Instance, int], None], report: Callable[[str], None]):
        super().__init__(window)
        self.window, self.state, self.review, self.panel, self.views = window, state, review, panel, views
        self.select, self.report = select, report
        self.prefetcher = Prefetcher(state, jobs, session, decoder)
        self.marks = MarkTool(views, self)
        self.active = True  # the application has the reader's attention (seconds count only then)
        self.visit: tuple[str, float] | None = None  # (entry id, monotonic start) of the visit being timed
        self.told_unsaved = False  # the reader was told that verdicts in an unsaved session are not on disk
        self.shown: tuple[str, bool] | None = None  # (entry id, scored) whose findings the tab lists
        self.order: Callable[[str | None, int], Iterable[Entry]] | None = None  # the worklist's order, for J/K
        panel.verdictChosen.connect(self._chosen)
        panel.agreeAllRequested.connect(self.agree_all)
        panel.noteEdited.connect(self._note)
        panel.markRequested.connect(self.marks.arm)
        panel.markCleared.connect(self._clear_mark)
        panel.selected.connect(lambda _label: self._draw_marks())
        panel.noteDone.connect(self._keys_back)
        self.marks.marked.connect(self._marked)
        self.marks.armedChanged.connect(lambda armed: window.statusBar().showMessage(
            "Mark: drag a box or click a point on any image (B again cancels)" if armed else "", 0 if armed else 1))
        review.connect("session", self._on_session)
        review.connect("current", self._on_current)
        review.changed.connect(self._on_changed)
        state.connect("model", lambda _model: self.refresh())
        state.connect("explanation", self._on_explanation)
        window_app = QGuiApplication.instance()
        if isinstance(window_app, QGuiApplication):
            window_app.applicationStateChanged.connect(self._on_application_state)
        self.ticker = QTimer(self)
        self.ticker.setInterval(TICK_MS)
        self.ticker.timeout.connect(self._tick)
        self.ticker.start()
        self.refresh()

    # -- the Review menu (Menus calls this with its own `add`) ------------------------------------------------

    def fill_menu(self, menu: QMenu, add: Callable[..., object]) -> None:
        add(menu, "&Agree", lambda: self.verdict("agree"), "Y", tip="Agree with the model on the selected finding")
        add(menu, "&Disagree", lambda: self.verdict("disagree"), "N")
        add(menu, "&Uncertain", lambda: self.verdict("uncertain"), "U")
        add(menu, "Agree with &All Remaining", self.agree_all, "Shift+Y")
        menu.addSeparator()
        add(menu, "Next &Finding", lambda: self.select_finding(1), "Shift+Down")
        add(menu, "Previous F&inding", lambda: self.select_finding(-1), "Shift+Up")
        add(menu, "&Next Unreviewed Image", lambda: self.step(1), "J")
        add(menu, "&Previous Unreviewed Image", lambda: self.step(-1), "K")
        menu.addSeparator()
        add(menu, "Edit &Note", self.edit_note, "E")
        add(menu, "&Mark the Finding's Place", self.mark, "B")
        add(menu, "&Clear the Mark", self.clear_mark, "Shift+B")

    # -- commands (keys) ----------------------------------------------------------------------------------------

    def verdict(self, verdict: Verdict) -> None:
        """The verdict on the selected finding, then the next finding is selected."""
        label = self._selected()
        if label is not None:
            self._record(label, verdict)
            self.panel.step(1)

    def agree_all(self) -> None:
        if self._selected() is not None:
            self.review.agree_all()

    def select_finding(self, step: int) -> None:
        if self._selected() is not None:
            self.panel.step(step)

    def step(self, step: int) -> Entry | None:
        """J / K: the next / previous image without every verdict."""
        if self.review.session is None:
            self.report(NO_SESSION)
            return None
        self.finish_note()
        found = self.upcoming(step)
        if found is not None:
            self.review.current = found.id
        else:
            self.window.statusBar().showMessage(
                f"No unreviewed image {'after' if step > 0 else 'before'} this one", 5000)
        return found

    def upcoming(self, step: int = 1) -> Entry | None:
        """The unreviewed image J (K) opens: the next one down the worklist as sorted and filtered, else the
        session's order."""
        session, current = self.review.session, self.review.current
        if session is None:
            return None
        if self.order is None:
            return session.first_unreviewed(current, step)
        labels = session.labels
        return next((entry for entry in self.order(current, step) if not entry.reviewed(labels)), None)

    def edit_note(self) -> None:
        if self._selected() is not None:
            self.panel.edit_note()

    def mark(self) -> None:
        label = self._selected()
        if label is None:
            return
        if self.marks.armed:
            self.marks.disarm()
        else:
            self.marks.arm(label)

    def clear_mark(self) -> None:
        label = self._selected()
        if label is not None:
            self._clear_mark(label)

    # -- what the reader records (saved by ReviewState before it returns) ------------------------------------

    def _selected(self) -> str | None:
        if self.review.session is None:
            self.report(NO_SESSION)
            return None
        entry = self.review.entry()
        if entry is None:
            self.window.statusBar().showMessage("No image of the session is on screen", 5000)
            return None
        if not self._on_screen(entry):
            self.window.statusBar().showMessage(OFF_SCREEN, 5000)
            return None
        if entry.predictions is None:  # a verdict is on the model's decision: the reader has not seen it yet
            self.window.statusBar().showMessage(NO_SCORES, 5000)
            return None
        return self.panel.selected_label()

    def _on_screen(self, entry: Entry) -> bool:
        """Whether the entry's image is the one shown: the last image stays on screen while the next decodes, or
        when it cannot be opened, and a verdict must be on the film the reader sees."""
        image = self.state.image
        return image is not None and (image.path, image.frame) == (Path(entry.path), entry.frame)

    def _chosen(self, label: str, verdict: str) -> None:
        """A verdict button of the tab: on the image on screen only, as the keys."""
        if self._selected() is not None:
            self._record(label, verdict)

    def _record(self, label: str, verdict: str) -> None:
        self._guarded(lambda: self.review.record(label, cast(Verdict, verdict)))  # one of VERDICTS: the panel's
        if self.review.file is None and not self.told_unsaved:
            self.told_unsaved = True  # once per session: the reader knows after that
            self.window.statusBar().showMessage(UNSAVED, 15000)

    def _note(self, label: str, text: str) -> None:
        self._guarded(lambda: self.review.note(label, text))

    def _marked(self, label: str, mark: Mark) -> None:
        self._guarded(lambda: self.review.mark(label, mark))

    def _clear_mark(self, label: str) -> None:
        entry = self.review.entry()
        found = entry.findings.get(label) if entry is not None else None
        if found is not None and found.mark is not None:
            self._guarded(lambda: self.review.mark(label, None))

    def _guarded(self, action: Callable[[], None]) -> None:
        """A save that fails (disk full, folder gone) is said in one line; the verdict stays in memory and the
        next save writes it."""
        try:
            action()
        except OSError as exc:
            self.report(f"The session could not be saved: {exc.strerror or exc}: use File → Save Session As…")
        except RadcamError as exc:  # SessionError and friends carry their one-line reason
            self.report(str(exc))

    def finish_note(self) -> None:
        """A note being typed is saved on its own image before another one comes (Alt+Down fires while typing;
        the field kept the text and saved it on the next image, or dropped it)."""
        if self.panel.note.hasFocus():
            self._keys_back()  # the field loses focus: editingFinished saves it on the image still current

    def _keys_back(self) -> None:
        self.views["overlay"].setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- the entry on screen ------------------------------------------------------------------------------------

    def _on_session(self, _session: object) -> None:
        self.marks.disarm()
        self.told_unsaved = False
        self.refresh()

    def _on_current(self, entry_id: str | None) -> None:
        self._end_visit()
        if self.marks.armed:  # a mark is drawn on the image it was asked for, or not at all
            self.marks.disarm()
        entry = self.review.entry()
        if entry is not None:
            self._open(entry)
            self._start_visit()
        self.refresh()

    def _open(self, entry: Entry) -> None:
        """Show the entry's image: at once when it was decoded ahead, else decoded on the IO thread."""
        target = Selection(Path(entry.path), entry.frame)
        image = self.state.image
        if image is not None and (image.path, image.frame) == (target.path, target.frame):
            return
        self.state.explain_pending = True  # in a session the map is always on screen with the image
        if self.prefetcher.show(target):
            return
        if self.state.selection != target:
            self.select(Instance(target.path, 1, entry.kind), entry.frame)

    def _on_explanation(self, explanation: Explanation | None) -> None:
        """The map on screen brings the model's scores: an entry the pre-scan has not reached gets them."""
        if explanation is None:
            return
        entry = self.review.entry()
        if entry is not None and entry.predictions is None and self._session_model_loaded() and (
                entry.path, entry.frame) == (explanation.key.path, explanation.key.frame):
            scores = {row["name"]: float(row["score"]) for row in explanation.result.predictions}
            self._guarded(lambda: self.review.set_predictions(entry.id, scores, None))
        self.prefetcher.ahead(self.review, self.upcoming(1))

    def _session_model_loaded(self) -> bool:
        """Whether the model on screen is the session's: another model's scores (a reader comparing models) are
        not the session's record, and their labels are not its findings."""
        kept = self.review.session.model if self.review.session else None
        loaded = self.state.model
        if kept is None or loaded is None:
            return kept is None
        if kept.sha256 and loaded.sha256:
            return kept.sha256 == loaded.sha256
        return bool(kept.path) and Path(kept.path).resolve() == Path(loaded.path).resolve()

    def _on_changed(self, entry_id: str) -> None:
        if entry_id == self.review.current:
            self.refresh()
        else:
            self._show_progress()

    # -- what the tab shows -------------------------------------------------------------------------------------

    def rows(self) -> list[FindingRow]:
        session, entry, model = self.review.session, self.review.entry(), self.state.model
        if session is None or entry is None:
            return []
        labels = session.labels or (list(model.labels) if model else [])
        rows = []
        for label in labels:
            threshold = session.model.threshold(label) if session.model else (
                model.thresholds.get(label, 0.5) if model else 0.5)
            found = entry.findings.get(label)
            score = entry.predictions.get(label) if entry.predictions else None
            rows.append(FindingRow(label, score, threshold, found.verdict if found else None,
                                   found.note if found else "", found.mark.kind if found and found.mark else ""))
        return rows

    def refresh(self) -> None:
        # The selection stays while the same image is listed in the same order; another image, or scores that
        # re-sort the rows, start at the first finding without a verdict (a kept label could be the last row,
        # where Y then N would both land on it).
        entry = self.review.entry()
        shown = None if entry is None else (entry.id, entry.predictions is not None)
        keep = self.panel.selected_label() if shown is not None and shown == self.shown else None
        self.shown = shown
        self.panel.set_findings(self.rows(), keep=keep)
        self._show_progress()
        self._draw_marks()
        self._tick()

    def _show_progress(self) -> None:
        session = self.review.session
        if session is None:
            self.panel.set_progress(NO_SESSION)
            return
        done, total = session.progress()
        entry = self.review.entry()
        where = ""
        if entry is not None:
            where = f" · image {[e.id for e in session.entries].index(entry.id) + 1}"
        self.panel.set_progress(f"{done} of {total} reviewed{where}" + (" (unsaved)" if self.review.file is None
                                                                          else ""))

    def _draw_marks(self) -> None:
        entry, selected = self.review.entry(), self.panel.selected_label()
        marks = [] if entry is None else [(label, found.mark, label == selected)
                                          for label, found in entry.findings.items() if found.mark is not None]
        self.marks.show(marks)

    # -- seconds on the image ------------------------------------------------------------------------------------

    def _start_visit(self) -> None:
        if self.active and self.review.current is not None and self.visit is None:
            self.visit = (self.review.current, time.monotonic())

    def _end_visit(self) -> None:
        if self.visit is not None:
            entry_id, start = self.visit
            self.visit = None
            self._guarded(lambda: self.review.add_seconds(entry_id, time.monotonic() - start))

    def _on_application_state(self, app_state: Qt.ApplicationState) -> None:
        self.active = app_state == Qt.ApplicationState.ApplicationActive
        if self.active:
            self._start_visit()
        else:
            self._end_visit()

    def _tick(self) -> None:
        entry = self.review.entry()
        running = time.monotonic() - self.visit[1] if self.visit and entry and self.visit[0] == entry.id else 0.0
        self.panel.set_seconds(None if entry is None else entry.seconds + running)
        self._guarded(self._flush)

    def _flush(self) -> None:
        self.review.flush()  # machine-made changes (pre-scan scores, seconds): at most once a second

    def leave(self) -> None:
        """The window closes or the session does: a note being typed is saved, the visit ends and its seconds
        are added."""
        self.finish_note()
        self._end_visit()

