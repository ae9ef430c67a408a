"""The reading-room look: a dark, low-glare Fusion palette, so the images are the brightest thing on screen."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#101214"  # image views: near black, not pure black, so image edges stay visible
PANEL = "#1b1e22"
BASE = "#15181b"
TEXT = "#d6dade"
MUTED = "#8a939c"
ACCENT = "#4aa3df"
POSITIVE = "#f0a03c"  # labels above the decision threshold: warm, visible on dark without alarming red
ERROR = "#e06c6c"
WARNING = "#d9a441"

STYLE = f"""
QWidget {{ font-size: 10pt; }}
QToolTip {{ color: {TEXT}; background: {PANEL}; border: 1px solid #3a4048; }}
QGroupBox {{ border: 1px solid #2c3137; border-radius: 4px; margin-top: 1.2em; padding-top: 4px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {MUTED}; }}
QTreeWidget, QTableWidget, QListWidget {{ background: {BASE}; border: 1px solid #2c3137; }}
QHeaderView::section {{ background: {PANEL}; color: {MUTED}; border: none; padding: 3px 6px; }}
QPushButton {{ padding: 4px 12px; }}
QPushButton#explain {{ font-weight: bold; background: #1f4d6e; border: 1px solid #2f6f9c; border-radius: 3px; }}
QPushButton#explain:hover {{ background: #286089; }}
QPushButton#explain:disabled {{ background: #23272c; color: {MUTED}; border-color: #2c3137; }}
QLabel[role="muted"] {{ color: {MUTED}; }}
QLabel[role="title"] {{ font-weight: bold; }}
QLabel[role="badge"] {{ color: #1b1e22; background: {WARNING}; border-radius: 3px; padding: 2px 6px;
                       font-weight: bold; }}
QFrame#banner {{ border-radius: 3px; }}
QFrame#banner[level="error"] {{ background: #4a1f22; border: 1px solid {ERROR}; }}
QFrame#banner[level="warning"] {{ background: #463a1c; border: 1px solid {WARNING}; }}
QFrame#banner[level="info"] {{ background: #1b3347; border: 1px solid {ACCENT}; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QSplitter::handle {{ background: #202429; }}
"""


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: PANEL, QPalette.ColorRole.WindowText: TEXT, QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: "#1e2226", QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT, QPalette.ColorRole.Text: TEXT, QPalette.ColorRole.Button: "#252a2f",
        QPalette.ColorRole.ButtonText: TEXT, QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#2f6f9c", QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT, QPalette.ColorRole.PlaceholderText: MUTED,
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5d646b"))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    app.setFont(font)
    app.setStyleSheet(STYLE)
