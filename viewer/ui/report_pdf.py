"""The review report as PDF: the HTML page (viewer.app.report_html) drawn by Qt's own text engine and PDF writer,
so no new dependency. QTextDocument reads the page's data: URI thumbnails itself (as QImage on a thread other
than the UI's, where the viewer calls this)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QMarginsF, QSizeF
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

from viewer.errors import ExportError
from viewer.export.atomic import atomic_write

RESOLUTION = 150  # dpi of the PDF's layout: the 256 px thumbnails print at about 4 cm


def write_pdf(html: str, path: str | os.PathLike[str], overwrite: bool = True) -> Path:
    """`html` as an A4 PDF at `path`, written completely or not at all; the number of pages follows the page."""

    def draw(temporary: Path) -> None:
        writer = QPdfWriter(str(temporary))
        writer.setResolution(RESOLUTION)
        writer.setTitle("RadCAM review report")
        writer.setCreator("RadCAM")
        writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                         QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
        document = QTextDocument()
        document.setHtml(html)
        rect = writer.pageLayout().paintRectPixels(writer.resolution())
        document.setPageSize(QSizeF(rect.width(), rect.height()))
        document.print_(writer)
        del writer  # the file is finished when the writer goes
        if temporary.stat().st_size == 0:
            raise ExportError(f"cannot write {path}: Qt wrote an empty PDF")

    return atomic_write(path, draw, overwrite)
