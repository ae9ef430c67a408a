"""The "Worklist" tab: every opened image or frame as one row of a sortable, filterable table, and the pre-scan's
progress.

The widget knows nothing of the window: it emits what the user asks for (`entrySelected`, `cancelScanRequested`,
`visibleChanged`) and has setters for what it shows. Rows come from `WorklistModel` through `WorklistFilter`.
"""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from viewer.app.review import Entry

from .worklist_model import COLUMNS, FILTERS, ID_ROLE, SCORE, WorklistFilter, WorklistModel

ROW_HEIGHT = 22
WIDTHS = {"Image": 132, "Score": 52, "Finding": 100, "✓": 26, "Verdict": 84, "Patient": 120, "ID": 80,
          "Study date": 82, "Modality": 40, "View": 40, "Seconds": 54}


class WorklistPanel(QWidget):
    entrySelected = Signal(str)  # the user picked a row: the entry's id
    cancelScanRequested = Signal()
    visibleChanged = Signal()  # other rows are on screen (scroll, sort, filter): the pre-scan's priority
    openFilesRequested = Signal()
    openFolderRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = WorklistModel(self)
        self.rows = WorklistFilter(self.model, self)
        self._quiet = False  # selecting a row from code: not a user's pick

        open_files = QPushButton("Open…")
        open_files.setToolTip("Open files or a DICOMDIR (Ctrl+O)")
        open_files.clicked.connect(self.openFilesRequested)
        open_folder = QPushButton("Folder…")
        open_folder.setToolTip("Open every study in a folder (Ctrl+Shift+O)")
        open_folder.clicked.connect(self.openFolderRequested)
        self.mode = QComboBox()
        for key, text in FILTERS.items():
            self.mode.addItem(text, key)
        self.mode.setToolTip("Which images the list shows")
        self.mode.currentIndexChanged.connect(lambda _i: self.set_filter(self.mode.currentData()))
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Show the rows with this text in any column")
        self._search_timer = QTimer(self, singleShot=True, interval=150)  # one filter pass per pause in typing
        self._search_timer.timeout.connect(lambda: self._refiltered(lambda: self.rows.set_text(self.search.text())))
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        top = QHBoxLayout()
        top.addWidget(open_files)
        top.addWidget(open_folder)
        top.addWidget(self.mode, 1)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)

        self.table = QTableView()
        self.table.setModel(self.rows)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names share prefixes; their ends differ
        self.table.setTabKeyNavigation(False)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        rows = self.table.verticalHeader()
        rows.hide()
        # Fixed row heights: the view never measures 10,000 rows (Qt's uniform-row-height behaviour for tables).
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(ROW_HEIGHT)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setHighlightSections(False)
        for column, name in enumerate(COLUMNS):
            header.resizeSection(column, WIDTHS[name])
        self.table.setSortingEnabled(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # worklist order until a header is clicked
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.search.returnPressed.connect(self.table.setFocus)  # Enter: back to the rows, for the arrow keys
        self.table.verticalScrollBar().valueChanged.connect(lambda _v: self.visibleChanged.emit())
        for signal in (self.rows.layoutChanged, self.rows.modelReset, self.rows.rowsInserted, self.rows.rowsRemoved):
            signal.connect(self._rows_changed)

        self.count = QLabel()
        self.count.setProperty("role", "muted")
        self.scan_label = QLabel()
        self.scan_bar = QProgressBar()
        self.scan_bar.setMaximumHeight(14)
        self.scan_bar.setTextVisible(False)
        self.scan_cancel = QPushButton("Cancel")
        self.scan_cancel.setToolTip("Stop the pre-scan (Esc); the scores found so far stay")
        self.scan_cancel.clicked.connect(self.cancelScanRequested)
        scan = QHBoxLayout()
        scan.addWidget(self.scan_label)
        scan.addWidget(self.scan_bar, 1)
        scan.addWidget(self.scan_cancel)
        self.scan_row = QWidget()
        self.scan_row.setLayout(scan)
        scan.setContentsMargins(0, 0, 0, 0)
        self.scan_bar.hide()
        self.scan_cancel.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.scan_row)
        layout.addWidget(self.count)
        self._rows_changed()

    # -- what the list shows --------------------------------------------------------------------------------

    def set_filter(self, mode: str) -> None:
        index = self.mode.findData(mode)
        if index != self.mode.currentIndex():
            self.mode.setCurrentIndex(index)  # comes back here through currentIndexChanged
            return
        self._refiltered(lambda: self.rows.set_mode(mode))

    def focus_filter(self) -> None:
        """Ctrl+F: type to filter the rows (Enter goes back to them)."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def sort_by(self, column: int, order: Qt.SortOrder) -> None:
        self.table.sortByColumn(column, order)

    def triage(self) -> None:
        """Highest score first."""
        self.sort_by(SCORE, Qt.SortOrder.DescendingOrder)

    def show_scan(self, done: int, total: int, text: str = "", tip: str = "") -> None:
        """The pre-scan's progress (`total` 0: not running; `text` says how it ended, `tip` more)."""
        running = total > 0 and done < total
        self.scan_bar.setVisible(running)
        self.scan_cancel.setVisible(running)
        if running:
            self.scan_bar.setRange(0, total)
            self.scan_bar.setValue(done)
        self.scan_label.setText(text or (f"Pre-scan {done}/{total}" if running else ""))
        self.scan_label.setToolTip(tip)

    def _rows_changed(self, *_args) -> None:
        shown, total = self.rows.rowCount(), self.model.rowCount()
        self.count.setText(f"{total} image(s)" if shown == total else f"{shown} of {total} image(s) shown")
        self.visibleChanged.emit()

    def _refiltered(self, change) -> None:
        """Apply a filter change keeping the selected row in view (it stays listed: see WorklistFilter.keep)."""
        change()
        self._rows_changed()
        current = self.table.currentIndex()
        if current.isValid():
            self.table.scrollTo(current, QAbstractItemView.ScrollHint.EnsureVisible)

    # -- selection ------------------------------------------------------------------------------------------

    def current_id(self) -> str | None:
        index = self.table.currentIndex()
        return str(index.data(ID_ROLE)) if index.isValid() else None

    def select_entry(self, entry_id: str | None) -> None:
        """Select the row of `entry_id` (code, not the user: no `entrySelected`); it stays listed while selected."""
        self.rows.set_keep(entry_id)
        row = self.rows.row_of(entry_id) if entry_id is not None else None
        self._quiet = True
        try:
            if row is None:
                self.table.selectionModel().clear()
                return
            index = self.rows.index(row, 0)
            if index != self.table.currentIndex():
                self.table.selectionModel().setCurrentIndex(
                    index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self.table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._quiet = False

    def step(self, offset: int) -> str | None:
        """The entry `offset` rows from the selected one in the list's order (sorted, filtered), wrapping."""
        count = self.rows.rowCount()
        if not count:
            return None
        current = self.table.currentIndex()
        row = (current.row() + offset) % count if current.isValid() else (0 if offset > 0 else count - 1)
        return self.rows.entry_id(row)

    def walk(self, entry_id: str | None, step: int = 1) -> Iterator[Entry]:
        """The entries after `entry_id` (before it when step < 0) in the list's order, sorted and filtered, so J
        reads a worklist sorted by score in the order the reader sees; from the top (bottom) without `entry_id`."""
        entries, root = self.model.entries(), QModelIndex()
        start = self.model.row_of(entry_id) if entry_id is not None else None
        rows = (range(start + 1, len(entries)) if step > 0 else range(start - 1, -1, -1)) if start is not None else (
            range(len(entries)) if step > 0 else range(len(entries) - 1, -1, -1))
        return (entries[row] for row in rows if self.rows.filterAcceptsRow(row, root))

    def visible_ids(self) -> list[str]:
        """The entries whose rows are on screen, top to bottom (the pre-scan does them first)."""
        count = self.rows.rowCount()
        if not count:
            return []
        viewport = self.table.viewport()
        top = self.table.rowAt(0)
        bottom = self.table.rowAt(viewport.height() - 1)
        top = max(top, 0)
        bottom = count - 1 if bottom < 0 else bottom
        return [entry_id for row in range(top, bottom + 1) if (entry_id := self.rows.entry_id(row)) is not None]

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._quiet or not current.isValid():
            return
        entry_id = str(current.data(ID_ROLE))
        self.rows.set_keep(entry_id)
        self.entrySelected.emit(entry_id)
