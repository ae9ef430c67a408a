"""The PACS dock (View → PACS): a node, a study search, the matches, Retrieve with its progress and Cancel, and the
last send's per-instance results.

The widget knows nothing of the window or the network: it emits what the user asks for (`searchRequested`,
`retrieveRequested`, `cancelRequested`, `preferencesRequested`) and has setters for what it shows. A study's
cache state is shown as the controller says it is: 'partial' until every instance is in the cache, never 'complete'.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.pacs.client import SendResult, StudyMatch, StudyQuery

from .panel_widgets import ElidedLabel, guard_wheel

COLUMNS = ("Patient", "Patient ID", "Date", "Accession", "Modality", "Description", "Images", "Cache")
SENT_COLUMNS = ("File", "Result", "Status", "Tries")
MODALITIES = ("", "CR", "DX", "MG", "CT", "MR", "US", "OT")
UID_ROLE = Qt.ItemDataRole.UserRole
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # what a column sorts by when its text does not (dates, counts)
STATE_TEXT = {"complete": "in cache", "partial": "partial — retrieve again to resume", "": ""}
SENT_KINDS = (("_sc.dcm", "Secondary Capture"), ("_gsps.dcm", "Presentation State"), ("_pmap.dcm", "Parametric Map"))


def _date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _day(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


class SortItem(QTableWidgetItem):
    """A cell that sorts by its SORT_ROLE value when it has one: image counts as numbers, hidden dates as dates."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is not None and theirs is not None:
            return bool(mine < theirs)
        return self.text().lower() < other.text().lower()


class PacsPanel(QWidget):
    searchRequested = Signal(str, object)  # node name, StudyQuery
    retrieveRequested = Signal(str, list)  # node name, study UIDs
    cancelRequested = Signal()
    preferencesRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.anonymous = False
        self.matches: list[StudyMatch] = []
        self.sent_results: list[SendResult] = []
        self.node = QComboBox()
        self.node.setToolTip("The PACS to search (Edit → Preferences → PACS nodes)")
        nodes_button = QPushButton("Nodes…")
        nodes_button.clicked.connect(self.preferencesRequested)
        self.patient_id = QLineEdit()
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("DOE^J*  (* and ? match anything)")
        self.accession = QLineEdit()
        self.modality = QComboBox()
        self.modality.setEditable(True)
        self.modality.addItems(MODALITIES)
        self.dated = QCheckBox("Study date")
        self.date_from, self.date_to = QDateEdit(), QDateEdit()
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(QDate.currentDate())
            edit.setEnabled(False)
        self.dated.toggled.connect(self.date_from.setEnabled)
        self.dated.toggled.connect(self.date_to.setEnabled)
        self.search = QPushButton("Search")
        self.search.setDefault(True)
        self.search.clicked.connect(self._search)
        for line in (self.patient_id, self.patient_name, self.accession):
            line.returnPressed.connect(self._search)

        form = QFormLayout()
        node_row = QHBoxLayout()
        node_row.addWidget(self.node, 1)
        node_row.addWidget(nodes_button)
        form.addRow("Node", node_row)
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Patient name", self.patient_name)
        form.addRow("Accession", self.accession)
        form.addRow("Modality", self.modality)
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        form.addRow(self.dated, dates)
        form.addRow("", self.search)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Description"), QHeaderView.ResizeMode.Stretch)
        self.table.setSortingEnabled(True)  # a click on a header; the newest first until then
        header.setSortIndicator(COLUMNS.index("Date"), Qt.SortOrder.DescendingOrder)
        self.table.doubleClicked.connect(lambda _index: self._retrieve())
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.retrieve = QPushButton("Retrieve")
        self.retrieve.setToolTip("Bring the selected studies into the cache and open them in the worklist")
        self.retrieve.setEnabled(False)
        self.retrieve.clicked.connect(self._retrieve)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.cancelRequested)
        self.cancel.hide()
        self.status = ElidedLabel(2)
        self.retrieve.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        actions = QHBoxLayout()
        actions.addWidget(self.retrieve)
        actions.addWidget(self.progress, 10)
        actions.addWidget(self.cancel)
        actions.addStretch(1)  # the buttons stay their size while no progress is shown

        self.sent = QTableWidget(0, len(SENT_COLUMNS))
        self.sent.setHorizontalHeaderLabels(SENT_COLUMNS)
        self.sent.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sent.verticalHeader().hide()
        self.sent.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.sent.horizontalHeader().setStretchLastSection(True)
        self.sent_title = QLabel("Last send")
        self.sent_title.hide()
        self.sent.hide()

        left = QVBoxLayout()
        left.addLayout(form)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.table, 3)
        right.addLayout(actions)
        right.addWidget(self.status)
        right.addWidget(self.sent_title)
        right.addWidget(self.sent, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left)
        layout.addLayout(right, 1)
        guard_wheel(self)

    # -- what the user asks for ----------------------------------------------------------------------------------

    def query(self) -> StudyQuery:
        dated = self.dated.isChecked()
        return StudyQuery(patient_id=self.patient_id.text().strip(), patient_name=self.patient_name.text().strip(),
                          accession=self.accession.text().strip(),
                          date_from=_day(self.date_from.date()) if dated else None,
                          date_to=_day(self.date_to.date()) if dated else None,
                          modality=self.modality.currentText().strip().upper())

    def _search(self) -> None:
        self.searchRequested.emit(self.node.currentText(), self.query())

    def selected_uids(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [uid for uid in (self._uid(row) for row in rows) if uid]

    def _uid(self, row: int) -> str:
        item = self.table.item(row, 0)
        return str(item.data(UID_ROLE)) if item is not None else ""

    def _retrieve(self) -> None:
        uids = self.selected_uids()
        if uids and self.retrieve.isEnabled():
            self.retrieveRequested.emit(self.node.currentText(), uids)

    def _selection_changed(self) -> None:
        self.retrieve.setEnabled(bool(self.selected_uids()) and not self.cancel.isVisible())

    # -- what it shows -------------------------------------------------------------------------------------------

    def set_nodes(self, names: Sequence[str]) -> None:
        current = self.node.currentText()
        self.node.clear()
        self.node.addItems(list(names))
        if current in names:
            self.node.setCurrentText(current)
        self.search.setEnabled(bool(names))
        if names and self.status_text().startswith("No PACS node"):
            self.show_status("")
        elif not names:
            self.show_status("No PACS node yet: add one with Nodes… (Edit → Preferences)")

    def set_matches(self, matches: Sequence[StudyMatch], states: dict[str, str]) -> None:
        """The studies found, each with its cache state, in the order the reader chose (the newest first until a
        header is clicked)."""
        self.matches = list(matches)
        self.table.setSortingEnabled(False)  # rows stay where they are put while they are filled
        self.table.setRowCount(len(self.matches))
        for row, match in enumerate(self.matches):
            hidden = self.anonymous
            name = match.patient_name.replace("^", " ").strip()
            cells = ("—" if hidden else name, "—" if hidden else match.patient_id,
                     "—" if hidden else _date(match.study_date), "—" if hidden else match.accession,
                     "/".join(match.modalities),
                     match.description, "" if match.instance_count is None else str(match.instance_count),
                     STATE_TEXT.get(states.get(match.study_uid, ""), ""))
            for column, text in enumerate(cells):
                item = SortItem(text)
                item.setData(UID_ROLE, match.study_uid)
                if COLUMNS[column] == "Date":
                    item.setData(SORT_ROLE, match.study_date)
                elif COLUMNS[column] == "Images":
                    item.setData(SORT_ROLE, -1 if match.instance_count is None else match.instance_count)
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        if self.matches:
            self.table.selectRow(0)
        self._selection_changed()

    def set_states(self, states: dict[str, str]) -> None:
        """Each study's cache state; the controller reads it from the cache after every retrieve, done or not."""
        column = COLUMNS.index("Cache")
        self.table.setSortingEnabled(False)  # sorted by this column, a changed cell would move rows mid-loop
        for row in range(self.table.rowCount()):
            item = self.table.item(row, column)
            if item is not None:
                item.setText(STATE_TEXT.get(states.get(self._uid(row), ""), ""))
        self.table.setSortingEnabled(True)

    def row_of(self, study_uid: str) -> int:
        """The study's row as sorted now; -1 when it is not listed."""
        return next((row for row in range(self.table.rowCount()) if self._uid(row) == study_uid), -1)

    def state_text(self, study_uid: str) -> str:
        item = self.table.item(self.row_of(study_uid), COLUMNS.index("Cache"))
        return item.text() if item is not None else ""

    def set_anonymous(self, anonymous: bool) -> None:
        self.anonymous = anonymous
        if self.sent_results:
            self.set_sent(self.sent_results)
        # what was typed to search is patient data too: masked, but shown while edited
        mode = QLineEdit.EchoMode.PasswordEchoOnEdit if anonymous else QLineEdit.EchoMode.Normal
        for line in (self.patient_id, self.patient_name, self.accession):
            line.setEchoMode(mode)
        if self.matches:
            states = {m.study_uid: self._state_key(self.state_text(m.study_uid)) for m in self.matches}
            self.set_matches(self.matches, states)

    @staticmethod
    def _state_key(text: str) -> str:
        return next((key for key, shown in STATE_TEXT.items() if shown == text), "")

    def set_busy(self, busy: bool) -> None:
        """A retrieve runs: progress and Cancel shown, Retrieve off until it ends."""
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)
        if busy:
            self.progress.setValue(0)
        self._selection_changed()

    def set_progress(self, fraction: float) -> None:
        self.progress.setValue(int(round(fraction * 100)))

    def show_status(self, text: str) -> None:
        self.status.setText(text)

    def status_text(self) -> str:
        return self.status.full or self.status.text()

    def set_sent(self, results: Sequence[SendResult]) -> None:
        self.sent_results = list(results)
        self.sent_title.show()
        self.sent.show()
        self.sent.setRowCount(len(results))
        for row, result in enumerate(results):
            status = "" if result.status is None else f"0x{result.status:04X}" if result.status > 999 else str(
                result.status)
            cells = (self._sent_name(row, result.path), "stored" if result.ok else f"refused: {result.message}", status,
                     str(result.attempts))
            for column, text in enumerate(cells):
                self.sent.setItem(row, column, QTableWidgetItem(text))

    def _sent_name(self, row: int, path: Path) -> str:
        """The file's name; under Anonymise Display (file names are often patient names) which object it was."""
        if not self.anonymous:
            return path.name
        kind = next((kind for suffix, kind in SENT_KINDS if path.name.endswith(suffix)), "DICOM instance")
        return f"{row + 1}: {kind}"
