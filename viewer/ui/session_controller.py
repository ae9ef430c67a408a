"""The session commands of the File menu: New Session…, Open Session…, Save Session As…, Close Session and
Export Report…

Opening a session takes its lock (another reader holding it: a clear message and nothing opened), asks for the
folder of images that moved and re-links them (viewer.app.review_file.relink), loads the session's model when
another one (or none) is loaded, and resumes at the first unreviewed image (ReviewState.open).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow, QMenu

from viewer.app import ViewerState
from viewer.app.jobs import Reporter
from viewer.app.review import Entry, ReviewSession, SessionModel, SessionSettings
from viewer.app.review_file import apply_moved, file_sha256, find_moved, missing_entries
from viewer.app.review_state import ReviewState
from viewer.app.session import ModelSession
from viewer.errors import RadcamError, SessionError, SessionLockedError

from . import session_dialogs as ask
from .controls import ControlPanel
from .jobs import QtJobs
from .review_controller import ReviewController
from .session_report import kind_of as report_kind, make_report, write_report
from .settings import Settings

FOLDER_KEY = "review/folder"


class SessionController(QObject):
    reportWritten = Signal(str)  # the report's path, once it is on disk
    relinked = Signal(int)  # how many moved images were found, once the search is done

    def __init__(self, window: QMainWindow, state: ViewerState, review: ReviewState, reviewing: ReviewController,
                 jobs: QtJobs, model_session: ModelSession, load_model: Callable[[Path], object],
                 controls: ControlPanel, settings: Settings, report: Callable[[str], None],
                 headless: Callable[[], bool]):
        super().__init__(window)
        self.window, self.state, self.review, self.reviewing = window, state, review, reviewing
        self.jobs, self.model_session, self.controls = jobs, model_session, controls
        self.layer: str | None = None  # the session's CAM layer, chosen once its model has loaded
        state.connect("model", self._choose_layer)
        self.load_model, self.settings, self.report, self.headless = load_model, settings, report, headless
        # The questions, replaceable (tests, unattended runs): each returns None when the reader cancels.
        dialog = ask.ask_reader_dialog(window)
        self.ask_reader: ask.AskReader = lambda: ask.login_name() if self.headless() else dialog()
        self.choose_folder: ask.ChooseFolder = ask.choose_folder_dialog(window, self._folder())
        self.ask_unsaved: ask.AskUnsaved = ask.ask_unsaved_dialog(window)
        self.show_locked: Callable[[str], None] = lambda message: (
            self.report(message) if self.headless() else ask.show_locked(window, message))

    def fill_file_menu(self, menu: QMenu, add: Callable[..., object]) -> None:
        add(menu, "&New Session…", lambda: self.new_session(),
            tip="Save the open images as a review session, with your verdicts")
        add(menu, "Open &Session…", lambda: self.open_session())
        add(menu, "Save Session &As…", lambda: self.save_as())
        add(menu, "&Close Session", self._close_command)
        add(menu, "Export &Report…", lambda: self.export_report(),
            tip="CSV, HTML or PDF report of the session's verdicts")

    # -- commands -------------------------------------------------------------------------------------------

    def new_session(self, path: Path | None = None) -> bool:
        """The open images (the worklist) as a session saved at `path`, for the reader (asked once)."""
        reader = ask.reader_name(self.settings, self.ask_reader)
        if reader is None:
            return False
        path = path or ask.session_path(self.window, "New review session", self._folder(), save=True)
        if path is None:
            return False
        current = self.review.session
        if current is not None and self.review.file is None:
            session = current  # the unsaved session of the opened images becomes this one
        else:  # a saved one stays as it is: the new session has its images, not its verdicts
            session = ReviewSession([_fresh(entry) for entry in (current.entries if current else [])],
                                    current.model if current else None,
                                    current.settings if current else SessionSettings())
        session.reader = reader
        session.model = self._model_record(session.model)
        session.settings = self._viewer_settings()  # every reader of the session sees maps made the same way
        try:
            if session is current:
                self.review.save_as(path)
            else:
                self.reviewing.leave()
                self.review.start(session, path, reader)
        except (RadcamError, OSError) as exc:
            self.report(_reason(exc))
            return False
        self._remember(path)
        self.reviewing.refresh()
        self.reviewing.panel.reveal()
        self.window.statusBar().showMessage(f"Session saved to {path}: every verdict is saved as it is given", 8000)
        return True

    def open_session(self, path: Path | None = None) -> bool:
        path = path or ask.session_path(self.window, "Open review session", self._folder(), save=False)
        if path is None:
            return False
        reader = ask.reader_name(self.settings, self.ask_reader)
        if reader is None or not self.may_drop():
            return False
        self.reviewing.leave()
        try:
            session = self.review.open(path, reader)
        except SessionLockedError as exc:
            self.show_locked(str(exc))
            return False
        except (RadcamError, OSError) as exc:
            self.report(_reason(exc))
            return False
        self._remember(path)
        self.reviewing.panel.reveal()
        self.relink_missing(session, path.parent)
        self._apply(session.settings)
        self._load_model(session.model)
        done, total = session.progress()
        self.window.statusBar().showMessage(f"{path.name}: {done} of {total} reviewed; resuming at the first "
                                            "unreviewed image", 8000)
        return True

    def relink_missing(self, session: ReviewSession, base: Path) -> int:
        """Ask for the folder of the images that are not where the session says, and re-link them there: the
        search (headers, digests: seconds on a large folder) runs on the IO thread; `relinked` says when it is
        done. Returns how many images were missing."""
        missing = missing_entries(session, base)
        if not missing:
            return 0
        folder = self.choose_folder(len(missing))
        if folder is None:
            self.report(ask.relink_question(len(missing)) + " (File → Open Session… asks again)")
            return len(missing)
        self.window.statusBar().showMessage(f"Looking for {len(missing)} image(s) under {folder}…")
        self.jobs.io.submit(lambda _reporter: find_moved(session, folder),
                            lambda moved: self._relinked(session, folder, len(missing), moved), self.report,
                            kind="relink")
        return len(missing)

    def _relinked(self, session: ReviewSession, folder: Path, missing: int, moved: dict[str, Path]) -> None:
        if self.review.session is not session:
            return  # closed or replaced while the search ran
        found = apply_moved(session, moved)
        if found:
            self.review.dirty = True
            try:
                self.review.flush(force=True)
            except (RadcamError, OSError) as exc:
                self.report(_reason(exc))
            entry_id = self.review.current  # show it again: its image may be one that was just found
            self.review.current = None
            self.review.current = entry_id
        message = f"Re-linked {found} of {missing} image(s) under {folder}"
        if missing - found:
            self.report(f"{message}; {missing - found} not found there (matched by SOP Instance UID, content or "
                        "name)")
        else:
            self.window.statusBar().showMessage(message, 8000)
        self.relinked.emit(found)

    def save_as(self, path: Path | None = None) -> bool:
        if self.review.session is None:
            self.report("No review session to save: open studies or a session first")
            return False
        path = path or ask.session_path(self.window, "Save review session as", self._folder(), save=True)
        if path is None:
            return False
        try:
            self.review.save_as(path)
        except (RadcamError, OSError) as exc:
            self.report(_reason(exc))
            return False
        self._remember(path)
        self.reviewing.refresh()
        return True

    def may_drop(self) -> bool:
        """The session is about to go (window closing, another session opening): verdicts in an unsaved one are
        saved, let go or kept open, as the reader answers. True: go ahead."""
        session = self.review.session
        if session is None or self.review.file is not None or self.headless():
            return True
        given = sum(bool(entry.findings) for entry in session.entries)
        if not given:
            return True
        answer = self.ask_unsaved(given)
        return self.new_session() if answer == "save" else answer == "discard"

    def _close_command(self) -> None:
        if self.may_drop():
            self.close_session()

    def close_session(self) -> None:
        self.reviewing.leave()
        try:
            self.review.close()
        except (RadcamError, OSError) as exc:
            self.report(f"{_reason(exc)}: the session stays open; save it elsewhere with Save Session As…")

    def shutdown(self) -> None:
        """The window closes: the last seconds are added and saved, and the lock is let go."""
        try:
            self.close_session()
        except Exception:  # noqa: BLE001 - closing the window must not fail; the autosave already holds the verdicts
            pass

    def export_report(self, path: Path | None = None) -> int | None:
        """CSV, HTML or PDF by the file's extension; the page is made on the model thread (thumbnails)."""
        session = self.review.session
        if session is None:
            self.report("No review session to report on: open one with File → Open Session…")
            return None
        path = path or ask.report_path(self.window, self._folder())
        if path is None:
            return None
        try:
            kind = report_kind(path)
            self.review.flush(force=True)
        except (RadcamError, OSError) as exc:
            self.report(_reason(exc))
            return None
        source = self.review.file.path if self.review.file else None
        anonymous, model = self.state.anonymous, self.model_session

        def job(reporter: Reporter) -> None:  # the file too is written here: a PDF of 400 thumbnails takes seconds
            text = make_report(session, source, kind, anonymous, model, reporter)
            try:
                write_report(text, kind, path)
            except OSError as exc:
                raise SessionError(_reason(exc)) from exc

        def done(_result: None) -> None:
            self.window.statusBar().showMessage(f"Report written to {path}", 8000)
            self.reportWritten.emit(str(path))

        return self.jobs.model.submit(job, done, self.report, kind="report", replace=True, progress=True)

    # -- inside ---------------------------------------------------------------------------------------------

    def _model_record(self, kept: SessionModel | None) -> SessionModel | None:
        """The model the session is made with, with its file's SHA-256 (a different file is another model)."""
        info = self.state.model
        if kept is None and info is not None:
            kept = SessionModel(str(info.path), info.sha256, info.name, tuple(info.labels), dict(info.thresholds))
        if kept is not None and not kept.sha256 and Path(kept.path).is_file():
            kept = dataclasses.replace(kept, sha256=file_sha256(Path(kept.path)) or "")
        return kept

    def _viewer_settings(self) -> SessionSettings:
        c = self.controls
        return SessionSettings(c.method_key(), c.layer_name(), c.threshold_value_f(), c.colormap.currentText() or None)

    def _apply(self, settings: SessionSettings) -> None:
        """The session's method, overlay threshold and colour map now; its layer once its model has loaded."""
        c = self.controls
        c.set_method(settings.method)
        c.threshold.setValue(round(settings.threshold * 100))
        if settings.colormap and c.colormap.findText(settings.colormap) >= 0:
            c.colormap.setCurrentIndex(c.colormap.findText(settings.colormap))
        self.layer = settings.layer
        self._choose_layer()

    def _choose_layer(self, _model: object = None) -> None:
        index = self.controls.layer.findData(self.layer) if self.layer and self.state.model is not None else -1
        if index >= 0:
            self.controls.layer.setCurrentIndex(index)
            self.layer = None

    def _load_model(self, model: SessionModel | None) -> None:
        """The session's model, unless it is the one loaded; a changed file under the same name is said."""
        if model is None or not model.path:
            return
        path = Path(model.path)
        if not path.is_file():
            self.report(f"The session's model {path} is not found: open it with File → Open Model… (Ctrl+M)")
            return
        digest = file_sha256(path) or ""
        if model.sha256 and digest and digest != model.sha256:
            self.report(f"{path.name} is not the file this session was scored with (its SHA-256 differs): "
                        "scores and maps may differ from the session's")
        loaded = self.state.model
        if loaded is None or Path(loaded.path).resolve() != path.resolve() or (loaded.sha256 and
                                                                                 loaded.sha256 != digest):
            self.load_model(path)

    def _folder(self) -> str:
        return str(self.settings.get(FOLDER_KEY, str(Path.home())))

    def _remember(self, path: Path) -> None:
        self.settings.set(FOLDER_KEY, str(path.parent))


def _fresh(entry: Entry) -> Entry:
    """The same image for a new session: what the model said stays, what a reader said does not."""
    return dataclasses.replace(entry, findings={}, seconds=0.0)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    return str(exc)
