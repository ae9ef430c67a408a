"""The review session's questions: the reader's name (asked once, then remembered), where moved images went, a
session another reader has open, and the session and report file names.

Each question is a plain function so that a controller can be given another one (tests, unattended runs).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMessageBox, QWidget

from viewer.app.review import SUFFIX

from .settings import Settings

READER_KEY = "review/reader"
SESSION_FILTER = f"RadCAM sessions (*{SUFFIX});;All files (*)"
REPORT_FILTER = "CSV table (*.csv);;HTML report (*.html);;PDF report (*.pdf)"

AskReader = Callable[[], str | None]  # the reader's name, or None: cancelled
ChooseFolder = Callable[[int], Path | None]  # given how many images are missing: their folder, or None
AskUnsaved = Callable[[int], str | None]  # given how many images have verdicts: "save", "discard" or None (cancel)


def reader_name(settings: Settings, ask: AskReader) -> str | None:
    """The reader's name: remembered from the first time it was asked; None when the reader cancels."""
    known = str(settings.get(READER_KEY, "") or "").strip()
    if known:
        return known
    answer = (ask() or "").strip()
    if not answer:
        return None
    settings.set(READER_KEY, answer)
    return answer


def login_name() -> str | None:
    """The system's user name: the reader of a session opened where nobody can be asked (--screenshot)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def ask_reader_dialog(parent: QWidget) -> AskReader:
    def ask() -> str | None:
        text, ok = QInputDialog.getText(parent, "Reader", "Your name, as it should appear in the session and its "
                                        "reports (asked once):", QLineEdit.EchoMode.Normal, "")
        return text if ok else None
    return ask


def relink_question(count: int) -> str:
    noun = "image is" if count == 1 else "images are"
    return f"{count} {noun} not where the session says: choose the folder they are in"


def choose_folder_dialog(parent: QWidget, start: str) -> ChooseFolder:
    def choose(count: int) -> Path | None:
        folder = QFileDialog.getExistingDirectory(parent, relink_question(count), start)
        return Path(folder) if folder else None
    return choose


def ask_unsaved_dialog(parent: QWidget) -> AskUnsaved:
    def ask(count: int) -> str | None:
        button = QMessageBox.StandardButton
        answer = QMessageBox.question(
            parent, "Unsaved review", f"Your verdicts on {count} image(s) are in no session file yet. Save them as "
            "a session?", button.Save | button.Discard | button.Cancel, button.Save)
        return {button.Save: "save", button.Discard: "discard"}.get(answer)
    return ask


def show_locked(parent: QWidget, message: str) -> None:
    QMessageBox.warning(parent, "Session in use", message)


def session_path(parent: QWidget, title: str, start: str, save: bool) -> Path | None:
    if save:
        name, _ = QFileDialog.getSaveFileName(parent, title, start, SESSION_FILTER)
    else:
        name, _ = QFileDialog.getOpenFileName(parent, title, start, SESSION_FILTER)
    if not name:
        return None
    path = Path(name)
    return path if not save or path.name.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)


def report_path(parent: QWidget, start: str) -> Path | None:
    name, chosen = QFileDialog.getSaveFileName(parent, "Export report", start, REPORT_FILTER)
    if not name:
        return None
    path = Path(name)
    if path.suffix.lower() not in (".csv", ".html", ".htm", ".pdf"):  # the filter picked says which
        path = path.with_name(path.name + (".csv" if "csv" in chosen else ".pdf" if "pdf" in chosen else ".html"))
    return path
