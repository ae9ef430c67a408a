"""Side-panel widget habits: the wheel never changes a closed combo or spin box, and help text never moves the form.

A reader scrolling past the Method box must not switch the method (that re-runs the model); the keyboard and the
open list still change it. A label of fixed height keeps the rows below it still when its text changes length.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QPainter, QTextLayout
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QLabel, QSizePolicy, QWidget

GUARDED = (QComboBox, QAbstractSpinBox)


class _WheelGuard(QObject):
    """Swallows wheel events on closed combo and spin boxes; rescans `root` when it is shown (widgets added late)."""

    def __init__(self, root: QWidget):
        super().__init__(root)
        self.root = root
        root.installEventFilter(self)
        self.scan()

    def scan(self) -> None:
        for kind in GUARDED:
            for widget in self.root.findChildren(kind):
                widget.installEventFilter(self)  # installing twice keeps one filter
                widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a wheel no longer gives them focus either

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and watched is self.root:
            self.scan()
        elif event.type() == QEvent.Type.Wheel and isinstance(watched, GUARDED):
            event.ignore()
            return True  # the open list of a combo box is another widget: its wheel still scrolls
        return False


def guard_wheel(root: QWidget) -> None:
    """From now on the wheel over any combo or spin box inside `root` changes nothing."""
    _WheelGuard(root)


class ElidedLabel(QLabel):
    """Word-wrapped text in a fixed number of lines; what does not fit ends in '…' and the tooltip has it all."""

    def __init__(self, lines: int = 2, parent: QWidget | None = None):
        super().__init__(parent)
        self.lines = lines
        self.full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._fix_height()

    def _fix_height(self) -> None:
        margins = self.contentsMargins()
        self.setFixedHeight(self.fontMetrics().lineSpacing() * self.lines + margins.top() + margins.bottom() + 2)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):  # a style sheet sets the font late
            self._fix_height()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self.full = text
        super().setText(text)  # accessibility and text() still give the whole text
        self._refresh()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._refresh()

    def _refresh(self) -> None:
        lines = self.fitted()
        self.setToolTip(self.full if lines and lines[-1].endswith("…") else "")
        self.update()

    def fitted(self) -> list[str]:
        """The lines drawn at the current width: wrapped at words, the last one elided when text is left over."""
        metrics, width = self.fontMetrics(), max(1, self.contentsRect().width())
        layout = QTextLayout(self.full, self.font())
        layout.beginLayout()
        lines: list[str] = []
        while len(lines) < self.lines:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            if len(lines) == self.lines - 1:  # the last line takes the rest, elided
                rest = self.full[line.textStart():]
                lines.append(metrics.elidedText(rest, Qt.TextElideMode.ElideRight, width))
                break
            lines.append(self.full[line.textStart():line.textStart() + line.textLength()].rstrip())
        layout.endLayout()
        return lines

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        metrics, area = self.fontMetrics(), self.contentsRect()
        for number, text in enumerate(self.fitted()):
            painter.drawText(QPointF(area.left(), area.top() + metrics.ascent() + number * metrics.lineSpacing()),
                             text)
