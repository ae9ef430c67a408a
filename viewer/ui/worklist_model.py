"""The worklist as a Qt table: one row per entry (image or frame), read straight from the session's entries.

A `QAbstractTableModel` over the entries themselves (no item per cell), so 10,000 rows open in a few tens of
milliseconds and the view asks only for the rows it shows. Sorting is done here, once per click, with a Python key
per entry (Qt's proxy sort would call back into Python for every comparison: ~300,000 calls for 10,000 rows);
`WorklistFilter` only filters, and forwards the view's sort requests to this model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from viewer.app.report import Pseudonyms
from viewer.app.review import Entry

from .browser import format_date

# What a reader triages by first (the left pane is narrow): the image, the model's top score and finding, the
# reader's own verdict; then who and what the image is.
COLUMNS = ("Image", "Score", "Finding", "✓", "Verdict", "Patient", "ID", "Study date", "Modality", "View", "Seconds")
IMAGE, SCORE, FINDING, REVIEWED, VERDICT, PATIENT, PATIENT_ID, DATE, MODALITY, VIEW, SECONDS = range(len(COLUMNS))
HEADER_TIPS = {SCORE: "The model's highest score (click: highest first)", FINDING: "The label with the highest score",
               REVIEWED: "Reviewed: every finding has the reader's verdict", VERDICT: "The reader's verdicts",
               SECONDS: "Seconds the reader spent on the image"}
NUMERIC = (SCORE, SECONDS)
HIDDEN = "—"  # what a name, ID or date shows under Anonymise Display
ID_ROLE = Qt.ItemDataRole.UserRole  # the entry's id, for selection
FILTERS = {"all": "All images", "unreviewed": "Unreviewed", "positive": "Score above threshold",
           "disagreements": "Disagreements"}

Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()  # the table's only parent


def verdict_summary(entry: Entry, labels: list[str]) -> str:
    """The reader's verdicts in a word: the strongest kind (disagree, then uncertain, then agree) with its count
    when it is not every finding, and "k/n" while findings are still without a verdict."""
    if not entry.findings:
        return ""
    counts = {kind: sum(f.verdict == kind for f in entry.findings.values()) for kind in ("disagree", "uncertain")}
    kind = next((k for k in ("disagree", "uncertain") if counts[k]), "agree")
    text = kind if kind == "agree" else f"{kind} {counts[kind]}"
    if labels and not entry.reviewed(labels):
        text += f" ({sum(label in entry.findings for label in labels)}/{len(labels)})"
    return text


class WorklistModel(QAbstractTableModel):
    """Rows are `entries` in display order (sorted); `refresh(entry_id)` after an entry changes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._entries: list[Entry] = []
        self._rows: dict[str, int] = {}
        self.labels: list[str] = []
        self.threshold: Callable[[str], float] = lambda _label: 0.5
        self.anonymous = False
        self.failures: dict[str, str] = {}  # entry id → why its pre-scan failed
        self._pseudonyms = Pseudonyms(anonymize=True)  # the report's names, numbered in worklist order
        self._images: dict[str, str] = {}  # entry id → its pseudonym, fixed when listed (a digest found later
        # by the pre-scan changes the entry's image key, not its name)
        self.sort_column, self.sort_order = -1, Qt.SortOrder.AscendingOrder

    # -- content --------------------------------------------------------------------------------------------

    def set_entries(self, entries: list[Entry]) -> None:
        self.beginResetModel()
        self._entries = list(entries)
        self.failures.clear()
        self._pseudonyms = Pseudonyms(anonymize=True)
        self._images.clear()
        self._name(self._entries)
        self._sort_entries()
        self.endResetModel()

    def append(self, entries: list[Entry]) -> None:
        if not entries:
            return
        first = len(self._entries)
        self.beginInsertRows(QModelIndex(), first, first + len(entries) - 1)
        self._entries += entries
        self._name(entries)
        self._index_rows()
        self.endInsertRows()
        if self.sort_column >= 0:
            self.sort(self.sort_column, self.sort_order)

    def set_labels(self, labels: list[str], threshold: Callable[[str], float]) -> None:
        """The model's labels (a row is reviewed when each has a verdict) and its decision threshold per label."""
        self.labels, self.threshold = list(labels), threshold
        self._all_changed()

    def set_anonymous(self, anonymous: bool) -> None:
        if anonymous != self.anonymous:
            self.anonymous = anonymous
            self._all_changed()

    def set_failed(self, entry_id: str, reason: str | None) -> None:
        if reason is None:
            self.failures.pop(entry_id, None)
        else:
            self.failures[entry_id] = reason
        self.refresh(entry_id)

    def refresh(self, entry_id: str) -> None:
        """One entry's predictions, verdicts or seconds changed: its row is drawn again (and filtered again)."""
        row = self._rows.get(entry_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def entry(self, row: int) -> Entry:
        return self._entries[row]

    def entries(self) -> list[Entry]:
        return self._entries

    def row_of(self, entry_id: str) -> int | None:
        return self._rows.get(entry_id)

    # -- what a cell shows ----------------------------------------------------------------------------------

    def text(self, entry: Entry, column: int) -> str:
        if column == IMAGE:
            if self.anonymous:
                return self._images[entry.id]
            return Path(entry.path).name + (f" · frame {entry.frame + 1}" if entry.frame else "")
        if column == PATIENT:
            return self._pseudonyms.patient(entry) if self.anonymous else entry.patient_name or ""
        if column == PATIENT_ID:
            if self.anonymous:
                return HIDDEN
            return entry.patient_id or ""
        if column == DATE:
            return HIDDEN if self.anonymous and entry.study_date else format_date(entry.study_date)
        if column == MODALITY:
            return entry.modality or ""
        if column == VIEW:
            return entry.view or ""
        if column in (FINDING, SCORE):
            top = entry.top_finding()
            if top is None:
                return "failed" if entry.id in self.failures and column == SCORE else ""
            return top[0] if column == FINDING else f"{top[1]:.2f}"
        if column == REVIEWED:
            return "✓" if entry.reviewed(self.labels) else ""
        if column == VERDICT:
            return verdict_summary(entry, self.labels)
        if column == SECONDS:
            return f"{entry.seconds:.0f}" if entry.seconds else ""
        return ""

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry, column = self._entries[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(entry, column)
        if role == ID_ROLE:
            return entry.id
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMERIC + (REVIEWED,):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter) if column in NUMERIC \
                else int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(entry, column)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(section)
        return None

    def _tooltip(self, entry: Entry, column: int) -> str | None:
        if column == SCORE and entry.id in self.failures:
            reason = self.failures[entry.id]
            if self.anonymous:  # a reason names the file, and file names are often patient names
                image = self._images[entry.id]
                reason = reason.replace(entry.path, image).replace(Path(entry.path).name, image)
            return reason
        if column in (FINDING, SCORE) and entry.predictions:
            ranked = sorted(entry.predictions.items(), key=lambda item: -item[1])
            return "\n".join(f"{label}: {score:.3f}" + (" (above threshold)" if score >= self.threshold(label) else "")
                             for label, score in ranked[:12])
        if column == IMAGE and not self.anonymous:
            return entry.path + (f"\nframe {entry.frame + 1}" if entry.frame else "")
        if column == VERDICT and entry.findings:
            return "\n".join(f"{label}: {found.verdict}" + (f" — {found.note}" if found.note else "")
                             for label, found in entry.findings.items())
        return None

    # -- sorting (the view's header clicks arrive here through the filter) ----------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column, self.sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()  # the selection and the current row follow their entries
        ids = [self._entries[index.row()].id for index in persistent]
        self._sort_entries()
        self.changePersistentIndexList(persistent, [self.index(self._rows[entry_id], index.column())
                                                    for entry_id, index in zip(ids, persistent, strict=True)])
        self.layoutChanged.emit()

    def resort(self) -> None:
        """Sort again by the column last asked for (scores arrived since)."""
        if self.sort_column >= 0:
            self.sort(self.sort_column, self.sort_order)

    def _sort_entries(self) -> None:
        """Stable sort by the column's key; rows without a value (no score yet, no date) go last either way."""
        column = self.sort_column
        if column >= 0:
            key = self._key(column)
            keyed = [(key(entry), entry) for entry in self._entries]
            filled = [item for item in keyed if item[0] is not None]
            filled.sort(key=lambda item: item[0], reverse=self.sort_order == Qt.SortOrder.DescendingOrder)
            self._entries = [entry for _, entry in filled] + [entry for k, entry in keyed if k is None]
        self._index_rows()

    def _key(self, column: int) -> Callable[[Entry], Any]:
        if column == SCORE:
            return lambda entry: top[1] if (top := entry.top_finding()) else None
        if column == SECONDS:
            return lambda entry: entry.seconds or None
        if column == REVIEWED:
            return lambda entry: int(entry.reviewed(self.labels))
        if column == IMAGE and not self.anonymous:
            return lambda entry: (Path(entry.path).name.casefold(), entry.frame)
        if column == IMAGE:
            return lambda entry: int(entry.id) if entry.id.isdigit() else entry.id
        return lambda entry: self.text(entry, column).casefold() or None

    def _index_rows(self) -> None:
        self._rows = {entry.id: row for row, entry in enumerate(self._entries)}

    def scrub(self, text: str) -> str:
        """`text` (an error, a status line) with the listed patients' names and IDs and the images' paths and file
        names replaced by their pseudonyms while the display is anonymised."""
        return self._pseudonyms.clean(text) if self.anonymous else text

    def _name(self, entries: list[Entry]) -> None:
        for entry in entries:
            self._pseudonyms.learn(entry)  # numbers the patient and the image, and notes what to scrub
            self._images.setdefault(entry.id, self._pseudonyms.image(entry))

    def _all_changed(self) -> None:
        if self._entries:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._entries) - 1, len(COLUMNS) - 1))


class WorklistFilter(QSortFilterProxyModel):
    """Which rows show: a filter mode (all, unreviewed, above threshold, disagreements) and a text that any shown
    cell contains. The row on screen (`keep`) always shows, so a verdict never makes the image under the reader's
    eyes vanish from an "Unreviewed" list."""

    def __init__(self, source: WorklistModel, parent=None):
        super().__init__(parent)
        self.worklist = source
        self.mode = "all"
        self.needle = ""
        self.keep: str | None = None
        self.setSourceModel(source)

    def set_mode(self, mode: str) -> None:
        if mode not in FILTERS:
            raise ValueError(f"filter {mode!r} is not one of {', '.join(FILTERS)}")
        self._refilter(lambda: setattr(self, "mode", mode))

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "needle", text.strip().casefold()))

    def set_keep(self, entry_id: str | None) -> None:
        if entry_id != self.keep:
            if self.mode != "all" or self.needle:
                self._refilter(lambda: setattr(self, "keep", entry_id))
            else:
                self.keep = entry_id

    def _refilter(self, change: Callable[[], None]) -> None:
        """Change what the filter accepts and filter the rows again (Qt 6.10's begin/end pair where it exists;
        invalidateRowsFilter, deprecated there, before)."""
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self.mode == "all" and not self.needle:
            return True  # called for each of 10,000 rows on every sort: the common case first
        model = self.worklist
        entry = model.entry(source_row)
        if entry.id == self.keep:
            return True
        if self.mode == "unreviewed" and entry.reviewed(model.labels):
            return False
        if self.mode == "positive" and not any(score >= model.threshold(label)
                                               for label, score in (entry.predictions or {}).items()):
            return False
        if self.mode == "disagreements" and not entry.disagreements():
            return False
        if self.needle:
            return any(self.needle in model.text(entry, column).casefold() for column in range(len(COLUMNS)))
        return True

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.worklist.sort(column, order)  # the source sorts (fast); this proxy keeps its order

    def entry_id(self, row: int) -> str | None:
        if not 0 <= row < self.rowCount():
            return None
        return str(self.data(self.index(row, 0), ID_ROLE))

    def row_of(self, entry_id: str) -> int | None:
        source_row = self.worklist.row_of(entry_id)
        if source_row is None:
            return None
        row = self.mapFromSource(self.worklist.index(source_row, 0)).row()
        return row if row >= 0 else None
