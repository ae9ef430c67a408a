"""The "Review" tab: the current image's findings (one per model label, best score first) and the reader's verdict
on each, with its note and mark; the session's progress and the seconds spent on this image.

One finding is selected (highlighted): the verdict keys (Y, N, U), the note (E) and the mark (B) act on it. The
widget knows nothing of the session: it shows rows and emits what the reader asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .controls import SCORE_ROLE, THRESHOLD_ROLE, ScoreBar

VERDICT_COLOURS = {"agree": "#5fbf7f", "disagree": theme.ERROR, "uncertain": theme.WARNING}
VERDICT_KEYS = {"agree": "Y", "disagree": "N", "uncertain": "U"}
COLUMNS = ("Finding", "Score", "Model", "Verdict", "")  # the last: ▭ box or • point marked, ✎ a note
MARK_SIGNS = {"box": "▭", "point": "•", "": ""}
SCORE_WIDTH = 96  # px: the side panel stays narrow enough for the images


@dataclass(frozen=True)
class FindingRow:
    """What the tab shows for one finding."""

    label: str
    score: float | None  # None: no prediction yet (pre-scan still running, or no model)
    threshold: float
    verdict: str | None = None
    note: str = ""
    mark: str = ""  # "", "point" or "box"

    @property
    def present(self) -> bool | None:
        return None if self.score is None else self.score >= self.threshold


class ThresholdBar(ScoreBar):
    """A score as a bar, with a tick at its decision threshold: the model says "present" right of the tick."""

    def positive(self, index, score: float, threshold: float | None) -> bool:
        return threshold is not None and score >= threshold


class NoteField(QLineEdit):
    """The note: Enter or Esc gives the keys back to the review (Esc would otherwise cancel the running job)."""

    done = Signal()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) and _typing(event):
            event.accept()  # ours, not a window shortcut's: no verdict, step or mark key fires while typing
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.done.emit()
            event.accept()
            return
        super().keyPressEvent(event)


def _typing(event: QKeyEvent) -> bool:
    """A key that edits or leaves the note (letters, Shift+letters, arrows, Enter, Esc), not Ctrl/Alt shortcuts
    or function keys."""
    commands = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier
    return not event.modifiers() & commands and not Qt.Key.Key_F1.value <= event.key() <= Qt.Key.Key_F35.value


class ReviewPanel(QWidget):
    verdictChosen = Signal(str, str)  # label, verdict ("agree" | "disagree" | "uncertain")
    agreeAllRequested = Signal()
    noteEdited = Signal(str, str)  # label, text (when the reader leaves the field)
    markRequested = Signal(str)  # label: draw its mark on an image panel
    markCleared = Signal(str)
    selected = Signal(str)  # the finding the keys act on now
    noteDone = Signal()  # Enter or Esc in the note: keys go back to the review

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[FindingRow] = []
        self._note_label: str | None = None  # the finding whose note the field holds
        self.progress = QLabel("No review session: File → New Session…")
        self.progress.setProperty("role", "title")
        self.seconds = QLabel("")
        self.seconds.setProperty("role", "muted")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(1, SCORE_WIDTH)
        # The label takes what is left (elided, full in its tooltip): a long label must not push the reader's
        # verdict out of the narrow side panel.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys are the window's, never the table's search
        self.table.setItemDelegateForColumn(1, ThresholdBar(self.table))
        self.table.currentCellChanged.connect(lambda row, *_: self._on_row(row))
        self.buttons: dict[str, QPushButton] = {}
        verdicts = QHBoxLayout()
        for verdict, key in VERDICT_KEYS.items():
            button = QPushButton(f"{verdict.capitalize()} ({key})")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, v=verdict: self._choose(v))
            verdicts.addWidget(button)
            self.buttons[verdict] = button
        self.agree_rest = QPushButton("Agree with the rest (Shift+Y)")
        self.agree_rest.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.agree_rest.clicked.connect(self.agreeAllRequested)
        self.note = NoteField()
        self.note.setPlaceholderText("Note on the selected finding (E; Enter when done)")
        self.note.editingFinished.connect(self._note_finished)
        self.note.done.connect(self.noteDone)
        self.mark_status = QLabel("")
        self.mark_status.setProperty("role", "muted")
        mark_button = QPushButton("Mark (B)")
        clear_button = QPushButton("Clear mark (Shift+B)")
        for button in (mark_button, clear_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        mark_button.clicked.connect(lambda: self._emit_for_selected(self.markRequested))
        clear_button.clicked.connect(lambda: self._emit_for_selected(self.markCleared))
        self.mark_status.setWordWrap(True)  # a long label must not widen the side panel
        marks = QHBoxLayout()
        marks.addWidget(mark_button)
        marks.addWidget(clear_button)
        selected_box = QGroupBox("Selected finding")
        box_layout = QVBoxLayout(selected_box)
        box_layout.addLayout(verdicts)
        box_layout.addWidget(self.agree_rest)
        box_layout.addWidget(self.note)
        box_layout.addLayout(marks)
        box_layout.addWidget(self.mark_status)
        keys = QLabel("Y agree · N disagree · U uncertain · Shift+↓/↑ finding · J/K next/previous unreviewed image")
        keys.setProperty("role", "muted")
        keys.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.progress)
        layout.addWidget(self.seconds)
        layout.addWidget(self.table, 1)
        layout.addWidget(selected_box)
        layout.addWidget(keys)
        self.set_findings([])

    # -- what it shows ----------------------------------------------------------------------------------------

    def set_progress(self, text: str) -> None:
        self.progress.setText(text)

    def set_seconds(self, seconds: float | None) -> None:
        self.seconds.setText("" if seconds is None else f"{seconds:.0f} s on this image")

    def set_findings(self, rows: list[FindingRow], keep: str | None = None) -> None:
        """Rows best score first; the selection stays on `keep` (a label) when it is still there, else on the
        first finding without a verdict (Y, N, U then go down the findings still to read)."""
        self.rows = sorted(rows, key=lambda row: -(row.score if row.score is not None else -1.0))
        table = self.table
        table.blockSignals(True)
        table.setRowCount(len(self.rows))
        bold = QFont(table.font())
        bold.setBold(True)
        for number, row in enumerate(self.rows):
            present = row.present
            label = QTableWidgetItem(row.label)
            label.setToolTip(row.label)
            if present:
                label.setFont(bold)
                label.setForeground(QColor(theme.POSITIVE))
            bar = QTableWidgetItem("" if row.score is not None else "…")
            bar.setData(SCORE_ROLE, row.score)
            bar.setData(THRESHOLD_ROLE, row.threshold)
            bar.setToolTip("" if row.score is None else f"score {row.score:.4f}, decision threshold "
                                                         f"{row.threshold:g}")
            decision = QTableWidgetItem("" if present is None else "present" if present else "absent")
            verdict = QTableWidgetItem(row.verdict or "—")
            if row.verdict:
                verdict.setForeground(QColor(VERDICT_COLOURS[row.verdict]))
                verdict.setFont(bold)
            signs = QTableWidgetItem(" ".join(sign for sign in (MARK_SIGNS[row.mark], "✎" if row.note else "") if sign))
            signs.setToolTip("\n".join(text for text in (f"{row.mark} marked" if row.mark else "", row.note) if text))
            items = (label, bar, decision, verdict, signs)
            for column, item in enumerate(items):
                table.setItem(number, column, item)
        labels = [row.label for row in self.rows]
        open_rows = [number for number, row in enumerate(self.rows) if row.verdict is None]
        first = open_rows[0] if open_rows else (0 if labels else -1)
        table.setCurrentCell(labels.index(keep) if keep in labels else first, 0)
        table.blockSignals(False)
        self._show_selected()
        for button in (*self.buttons.values(), self.agree_rest):
            button.setEnabled(bool(self.rows))

    def selected_label(self) -> str | None:
        row = self.table.currentRow()
        return self.rows[row].label if 0 <= row < len(self.rows) else None

    def select(self, label: str) -> None:
        labels = [row.label for row in self.rows]
        if label in labels:
            self.table.setCurrentCell(labels.index(label), 0)

    def step(self, step: int) -> str | None:
        """Select the next (or previous) finding, stopping at the ends; the label now selected."""
        if self.rows:
            row = min(max(self.table.currentRow() + step, 0), len(self.rows) - 1)
            self.table.setCurrentCell(row, 0)
        return self.selected_label()

    def reveal(self) -> None:
        """Bring this tab to the front of the tabs it is in."""
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QTabWidget):
            parent = parent.parentWidget()
        if isinstance(parent, QTabWidget):
            parent.setCurrentWidget(self)

    def edit_note(self) -> None:
        self.note.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.note.selectAll()

    # -- inside -----------------------------------------------------------------------------------------------

    def _on_row(self, _row: int) -> None:
        self._show_selected()
        label = self.selected_label()
        if label is not None:
            self.selected.emit(label)

    def _show_selected(self) -> None:
        label = self.selected_label()
        row = next((r for r in self.rows if r.label == label), None)
        if self.note.hasFocus() and label == self._note_label:
            return  # the reader is typing this finding's note: a refresh (pre-scan scores) must not replace it
        self._note_label = label
        self.note.blockSignals(True)
        self.note.setText(row.note if row else "")
        self.note.setEnabled(row is not None)
        self.note.blockSignals(False)
        self.mark_status.setText("" if row is None else f"{row.label}: " + (
            f"{row.mark} marked" if row.mark else "no mark (B, then drag a box or click a point on an image)"))

    def _choose(self, verdict: str) -> None:
        label = self.selected_label()
        if label is not None:
            self.verdictChosen.emit(label, verdict)

    def _emit_for_selected(self, signal) -> None:
        label = self.selected_label()
        if label is not None:
            signal.emit(label)

    def _note_finished(self) -> None:
        label = self.selected_label()
        row = next((r for r in self.rows if r.label == label), None)
        if row is not None and self.note.text() != row.note:
            self.noteEdited.emit(row.label, self.note.text())
