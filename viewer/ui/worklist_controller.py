"""The worklist: opened studies become the review session's entries, a picked row opens its image, and the
pre-scan fills the score column on the model thread.

The worklist, the state's selection and `ReviewState.current` follow each other: a row picked (or J/K moving
`current`) opens that image and frame; an image opened elsewhere (the study tree, the first image of a folder)
selects its row. Opening files without a session starts an unsaved one, so verdicts can be given at once.

The pre-scan runs in chunks of about half a second, each a job of its own on the model thread ("prescan"), so an
Explain asked for meanwhile waits for one chunk, never for the whole scan. Each chunk takes the entries on screen
first (the rows the reader sees fill first), then the rest in the list's order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtWidgets import QMainWindow, QTabWidget

from viewer.app import ModelInfo, Selection, ViewerState
from viewer.app.prescan import PrescanResult
from viewer.app.review import Entry, ReviewSession, SessionModel
from viewer.app.review_state import ReviewState
from viewer.app.session import ModelSession
from viewer.app.worklist import entries_from, extend
from viewer.io import Instance, LoadResult

from .jobs import QtJobs
from .session_dialogs import READER_KEY, login_name
from .settings import Settings
from .worklist_panel import WorklistPanel

CHUNK_S = 0.5  # aim for chunks of this long: the longest an Explain waits behind the pre-scan
FIRST_CHUNK = 16  # images in the first chunk (one batch); later chunks are sized from the last one's speed
MAX_CHUNK = 256


@dataclass
class Chunk:
    """One pre-scan job: its entries and what it found (filled on the model thread, read on the UI thread once
    the job has ended, cancelled or not: what was scored before Cancel is kept)."""

    entries: list[Entry]
    session: ReviewSession | None  # the session it scores for: a result for another is dropped
    keep: bool = True
    job_id: int = 0
    scores: list[tuple[str, dict[str, float], str | None]] = field(default_factory=list)
    result: PrescanResult | None = None
    model_sha256: str = ""
    started: float = field(default_factory=time.perf_counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry_id: str, scores: dict[str, float], sha256: str | None) -> None:
        with self.lock:
            self.scores.append((entry_id, scores, sha256))

    def taken(self) -> list[tuple[str, dict[str, float], str | None]]:
        with self.lock:
            found, self.scores = self.scores, []
        return found


class WorklistController:
    def __init__(self, window: QMainWindow, state: ViewerState, review: ReviewState, jobs: QtJobs,
                 session: ModelSession, panel: WorklistPanel, tabs: QTabWidget, settings: Settings,
                 open_image: Callable[[Instance, int], None], report: Callable[[str], None]):
        self.window, self.state, self.review, self.jobs, self.session = window, state, review, jobs, session
        self.panel, self.tabs, self.settings, self.open_image, self.report = panel, tabs, settings, open_image, report
        self._by_image: dict[tuple[str, int], str] = {}  # (path, frame) → entry id
        self._visible: list[str] = []  # the ids on screen, a snapshot the model thread may read
        self.chunk: Chunk | None = None  # the pre-scan job running now
        self.chunk_size = FIRST_CHUNK
        self.scan_total = 0  # entries the running scan set out to score
        self.scan_done = 0
        self.scan_failed: dict[str, str] = {}
        self.scan_warning: str | None = None  # why scores are not kept on disk (the cache's reason)
        panel.entrySelected.connect(self._picked)
        panel.cancelScanRequested.connect(self.cancel_scan)
        panel.visibleChanged.connect(self._remember_visible)
        review.connect("session", self._session)
        review.connect("current", self._current)
        review.changed.connect(panel.model.refresh)
        state.connect("selection", self._selection)
        state.connect("anonymous", panel.model.set_anonymous)
        state.connect("model", self._model)

    # -- opened studies ---------------------------------------------------------------------------------------

    def add(self, result: LoadResult) -> None:
        """The images of `result` join the session's worklist (a new unsaved session when none is open)."""
        session = self.review.session
        if session is None:
            session = ReviewSession(entries_from(result))
            if self.state.model is not None:
                session.model = session_model(self.state.model, "")
            reader = str(self.settings.get(READER_KEY, "") or "") or login_name() or ""  # asked on Save As
            self.review.start(session, None, reader)  # → _session shows the entries
        else:
            new = extend(session, result)
            for entry in new:
                self._by_image[(entry.path, entry.frame)] = entry.id
            self.panel.model.append(new)
        self._selection(self.state.selection)  # the image shown may be one that was just added
        self.scan()

    # -- the session, the selection and the row on screen follow each other ------------------------------------

    def _session(self, session: ReviewSession | None) -> None:
        self.cancel_scan(quietly=True)
        entries = session.entries if session is not None else []
        self._by_image = {(entry.path, entry.frame): entry.id for entry in entries}
        self.panel.model.set_entries(entries)
        self._labels()
        self.scan()

    def _picked(self, entry_id: str) -> None:
        if self.review.session is not None:
            self.review.current = entry_id  # → _current opens it

    def _current(self, entry_id: str | None) -> None:
        self.panel.select_entry(entry_id)
        entry = self.review.entry()
        if entry is None:
            return
        selection = self.state.selection
        if selection is None or (str(selection.path), selection.frame) != (entry.path, entry.frame):
            self.open_image(Instance(Path(entry.path), 1, entry.kind, sop_instance_uid=entry.sop_instance_uid),
                            entry.frame)

    def _selection(self, selection: Selection | None) -> None:
        if selection is None:
            return
        entry_id = self._by_image.get((str(selection.path), selection.frame))
        if entry_id is not None and self.review.session is not None:
            self.review.current = entry_id
            self.panel.select_entry(entry_id)

    def step(self, offset: int) -> bool:
        """Alt+Down / Alt+Up while the worklist is shown: the next or previous row in its order (sorted,
        filtered). False when the worklist is not the tab on screen (the study tree steps instead)."""
        if self.tabs.currentWidget() is not self.panel:
            return False
        entry_id = self.panel.step(offset)
        if entry_id is not None:
            self._picked(entry_id)
        return True

    def step_frame(self, offset: int) -> bool:
        """PgDown / PgUp while the worklist is shown: the same file's next or previous frame (each its own row).
        False when the worklist is not the tab on screen (the study tree's frame slider steps instead)."""
        if self.tabs.currentWidget() is not self.panel:
            return False
        entry = self.review.entry()
        entry_id = self._by_image.get((entry.path, entry.frame + offset)) if entry is not None else None
        if entry_id is not None:
            self._picked(entry_id)
        return True

    def focus_filter(self) -> None:
        self.tabs.setCurrentWidget(self.panel)
        self.panel.focus_filter()

    def _labels(self) -> None:
        """The session's model decides what a finding is; without one, the loaded model's labels."""
        session, info = self.review.session, self.state.model
        if session is not None and session.model is not None:
            self.panel.model.set_labels(session.labels, session.model.threshold)
        elif info is not None:
            thresholds = dict(info.thresholds)
            self.panel.model.set_labels(info.labels, lambda label: float(thresholds.get(label, 0.5)))
        else:
            self.panel.model.set_labels([], lambda _label: 0.5)

    # -- the pre-scan -----------------------------------------------------------------------------------------

    def _model(self, info: ModelInfo | None) -> None:
        """A new model: the running scan is for the old one. An unsaved session without verdicts takes the new
        model (its scores are scored again); a session made with another model keeps its scores."""
        self.cancel_scan(quietly=True)
        session = self.review.session
        if info is not None and session is not None:
            same = session.model is not None and Path(session.model.path) == Path(info.path)
            fresh = self.review.file is None and not any(entry.findings for entry in session.entries)
            if not same and (session.model is None or fresh):
                session.model = session_model(info, "")
                for entry in session.entries:
                    entry.predictions = None  # another model's scores (redrawn by _labels below)
                self.panel.model.failures.clear()
            elif not same and session.model is not None:
                self.panel.show_scan(0, 0, f"Pre-scan off: this session's model is {Path(session.model.path).name}")
        self._labels()
        self.scan()

    def scan(self) -> None:
        """Score the entries that have no scores yet, if a model fits the session and no scan is running."""
        if self.chunk is not None or not self._scannable():
            return
        todo = self._todo()
        self.scan_total, self.scan_done, self.scan_failed, self.scan_warning = len(todo), 0, {}, None
        self.chunk_size = FIRST_CHUNK
        if todo:
            self._next_chunk()

    def cancel_scan(self, quietly: bool = False) -> bool:
        """Esc or the panel's Cancel; whether a scan was running. The scores found so far stay (`quietly`: the
        session or the model changed, so what the running chunk finds is dropped)."""
        chunk = self.chunk
        if chunk is None:
            return False
        self.chunk = None  # no next chunk
        chunk.keep = not quietly
        self.jobs.model.thread.cancel(chunk.job_id)  # still wanted: its results arrive through _chunk_ended
        if not quietly:
            self.panel.show_scan(0, 0, f"Pre-scan cancelled: {self.scan_done} of {self.scan_total} scored")
        return True

    def scanning(self) -> bool:
        return self.chunk is not None

    def _scannable(self) -> bool:
        session, info = self.review.session, self.state.model
        return (session is not None and info is not None and not self.state.model_loading
                and session.model is not None and Path(session.model.path) == Path(info.path))

    def _todo(self) -> list[Entry]:
        """Entries without scores (nor a failure this scan), on-screen rows first, then the list's order."""
        assert self.review.session is not None
        failed = self.scan_failed
        waiting = {entry.id: entry for entry in self.panel.model.entries()
                   if entry.predictions is None and entry.id not in failed}
        first = [waiting.pop(entry_id) for entry_id in self._visible if entry_id in waiting]
        return first + list(waiting.values())

    def _next_chunk(self) -> None:
        todo = self._todo()
        if not todo or not self._scannable():
            self._finished()
            return
        self.scan_total = max(self.scan_total, self.scan_done + len(todo))  # images opened while it runs
        chunk = Chunk(todo[:self.chunk_size], self.review.session)
        self.chunk = chunk
        session, visible = self.session, self._visible_now

        def job(reporter) -> Chunk:  # on the model thread
            chunk.result = session.prescan(chunk.entries, chunk.add, reporter, priority=visible)
            chunk.model_sha256 = session.model_digest[1]
            return chunk

        chunk.job_id = self.jobs.model.submit(job, self._chunk_ended, self._chunk_failed, kind="prescan",
                                              on_cancel=lambda: self._chunk_ended(chunk))
        self.panel.show_scan(self.scan_done, self.scan_total)

    def _chunk_ended(self, chunk: Chunk) -> None:
        """A chunk finished or was cancelled: keep what it scored, then start the next one."""
        self._take(chunk)
        if chunk is not self.chunk:
            return  # cancelled: no next chunk
        self._finish_model(chunk)
        elapsed = max(time.perf_counter() - chunk.started, 1e-3)
        self.chunk_size = int(min(MAX_CHUNK, max(FIRST_CHUNK, len(chunk.entries) * CHUNK_S / elapsed)))
        self.chunk = None
        self._next_chunk()

    def _chunk_failed(self, message: str) -> None:
        self.chunk = None
        self.panel.show_scan(0, 0, "Pre-scan stopped")
        self.report(f"pre-scan: {message}")

    def _take(self, chunk: Chunk) -> None:
        """Hand what the chunk scored (and failed) to the session: the rows fill, the file records it."""
        found = chunk.taken()
        if not chunk.keep or chunk.session is not self.review.session:
            return
        for entry_id, scores, sha256 in found:
            self.review.set_predictions(entry_id, scores, sha256)
            self.panel.model.set_failed(entry_id, None)
            self.scan_done += 1
        if chunk.result is not None:
            self.scan_warning = chunk.result.warning or self.scan_warning
            for entry_id, reason in chunk.result.failed.items():
                if entry_id not in self.scan_failed:
                    self.scan_failed[entry_id] = reason
                    self.panel.model.set_failed(entry_id, reason)
                    self.scan_done += 1
        if chunk is not self.chunk:
            self.review.flush(force=True)

    def _finish_model(self, chunk: Chunk) -> None:
        """The session's model gets its file's digest once the model thread has read it."""
        session = self.review.session
        if session is not None and session.model is not None and not session.model.sha256 and chunk.model_sha256:
            session.model = replace(session.model, sha256=chunk.model_sha256)

    def _finished(self) -> None:
        self.chunk = None
        failed = len(self.scan_failed)
        text = f"Pre-scan: {self.scan_done - failed} scored" + (f", {failed} failed" if failed else "")
        if self.scan_warning:
            text += " (not cached: see the tooltip)"
        self.panel.show_scan(0, 0, text if self.scan_total else "", self.scan_warning or "")
        self.panel.model.resort()  # a list sorted by score (triage) takes the new scores in
        self.review.flush(force=True)

    def _remember_visible(self) -> None:
        self._visible = self.panel.visible_ids()

    def _visible_now(self) -> list[str]:
        return list(self._visible)  # on the model thread: a copy of the last snapshot, never the widget


def session_model(info: ModelInfo, sha256: str) -> SessionModel:
    """What a session records of the model that scored it."""
    return SessionModel(str(info.path), sha256 or info.sha256, info.name, tuple(info.labels), dict(info.thresholds))
