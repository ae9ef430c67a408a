"""File → Export Report…: the session's CSV, HTML or PDF (chosen by the file's extension).

The page is made on the model thread (the thumbnails' overlays need the model: the one loaded when it is the
session's, else the session's own), and the file is written there too: Qt draws the PDF off the UI thread
(viewer.ui.report_pdf), where hundreds of thumbnails take seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QThread

from viewer.app.jobs import Reporter
from viewer.app.review import ReviewSession
from viewer.app.session import ModelSession
from viewer.errors import SessionError

KINDS = {".csv": "csv", ".html": "html", ".htm": "html", ".pdf": "pdf"}


def kind_of(path: Path) -> str:
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise SessionError(f"cannot tell the report's format from {path.name}: name it .csv, .html or .pdf")
    return kind


def make_report(session: ReviewSession, source: Path | None, kind: str, anonymous: bool, model: ModelSession,
                reporter: Reporter) -> str:
    """The report's text (CSV or HTML); a job for the model thread."""
    from viewer.app import report as reports

    report = reports.build([(session, source)], anonymize=anonymous)
    if kind == "csv":
        return reports.to_csv(report.rows())
    from viewer.app.report_html import html_report
    from viewer.app.report_thumbs import thumbnails

    loaded = model.loaded
    same = loaded is not None and session.model is not None and Path(loaded.path).resolve() == Path(
        session.model.path).resolve()
    thumbs = thumbnails(report, reporter, engine=model.engine if same else None)
    return html_report(report, reporter, thumbs=thumbs)


def write_report(text: str, kind: str, path: Path) -> None:
    """The report's file; a PDF is the HTML page drawn by Qt."""
    if kind == "pdf":
        from . import report_pdf

        _in_qt_thread(lambda: report_pdf.write_pdf(text, path))
        return
    from viewer.export.atomic import atomic_write

    atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"), overwrite=True)


def _in_qt_thread(action: Callable[[], object]) -> None:
    """Run `action` in a QThread and wait: Qt's text layout starts timers, which in a thread Qt did not start (the
    job threads) print a warning each on stderr."""
    failures: list[BaseException] = []

    class Drawing(QThread):
        def run(self) -> None:
            try:
                action()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
                failures.append(exc)

    thread = Drawing()
    thread.start()
    thread.wait()
    if failures:
        raise failures[0]
