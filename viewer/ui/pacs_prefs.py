"""Edit → Preferences…, page "PACS nodes": the configured nodes (viewer.pacs.nodes.NodeStore, the file that
`radcam-cli pacs nodes` shares), Add/Edit/Remove, and Test (a C-ECHO or a QIDO ping, off the UI thread).

A password or token typed here goes to the OS keyring (viewer.pacs.credentials), never into the nodes file; with no
usable keyring it is kept in memory for this session only, and the page says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from viewer.errors import PacsError
from viewer.pacs.nodes import Node, NodeStore

from .panel_widgets import guard_wheel

KIND_TEXT = {"dimse": "DIMSE (C-FIND, C-GET/C-MOVE, C-STORE)", "dicomweb": "DICOMweb (QIDO, WADO, STOW)"}
NAME_ROLE = Qt.ItemDataRole.UserRole


class SecretKeeper(Protocol):
    def remember(self, node: Node, secret: str) -> bool: ...

    def forget(self, node: Node) -> None: ...

    def move(self, old: Node, new: Node) -> None: ...


class NodeDialog(QDialog):
    """One node's settings; OK only when they make a valid Node (the reason is shown under the form)."""

    def __init__(self, node: Node | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("PACS node")
        self.node: Node | None = None
        self.secret = ""  # typed now (empty: unchanged)
        self.name = QLineEdit()
        self.kind = QComboBox()
        for key, text in KIND_TEXT.items():
            self.kind.addItem(text, key)
        self.ae_title, self.host, self.our_ae_title = QLineEdit(), QLineEdit(), QLineEdit("RADCAM")
        self.port, self.move_port = QSpinBox(), QSpinBox()
        for spin, value in ((self.port, 104), (self.move_port, 11113)):
            spin.setRange(1, 65535)
            spin.setValue(value)
        self.retrieve = QComboBox()
        self.retrieve.addItem("C-GET (no inbound port)", "get")
        self.retrieve.addItem("C-MOVE to our Storage SCP", "move")
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://pacs.example.org/dicom-web")
        self.auth = QComboBox()
        for key, text in (("none", "None"), ("basic", "Basic (user and password)"), ("bearer", "Bearer token")):
            self.auth.addItem(text, key)
        self.username = QLineEdit()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("unchanged" if node is not None and node.needs_secret else "")
        self.verify_tls = QCheckBox("Verify the server's TLS certificate")
        self.verify_tls.setChecked(True)
        self.ca_file = QLineEdit()
        browse = QPushButton("…")
        browse.clicked.connect(self._browse_ca)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setValue(30)
        self.timeout.setSuffix(" s")

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Kind", self.kind)
        self.dimse_rows = [("PACS AE title", self.ae_title), ("Host", self.host), ("Port", self.port),
                           ("Our AE title", self.our_ae_title), ("Retrieve by", self.retrieve),
                           ("C-MOVE port (ours)", self.move_port)]
        ca_row = QWidget()
        ca_layout = QHBoxLayout(ca_row)
        ca_layout.setContentsMargins(0, 0, 0, 0)
        ca_layout.addWidget(self.ca_file, 1)
        ca_layout.addWidget(browse)
        self.web_rows = [("Base URL", self.url), ("Authentication", self.auth), ("User name", self.username),
                         ("Password or token", self.password), ("", self.verify_tls), ("CA file", ca_row)]
        for label, widget in self.dimse_rows + self.web_rows:
            form.addRow(label, widget)
        form.addRow("Timeout", self.timeout)
        self.form = form
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d04040")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.kind.currentIndexChanged.connect(lambda _i: self._show_kind())
        self.retrieve.currentIndexChanged.connect(lambda _i: self._enable())
        self.auth.currentIndexChanged.connect(lambda _i: self._enable())
        if node is not None:
            self.set_node(node)
        self._show_kind()
        self._enable()
        guard_wheel(self)

    def set_node(self, node: Node) -> None:
        self.name.setText(node.name)
        self.kind.setCurrentIndex(self.kind.findData(node.kind))
        self.ae_title.setText(node.ae_title)
        self.host.setText(node.host)
        self.port.setValue(node.port)
        self.our_ae_title.setText(node.our_ae_title)
        self.retrieve.setCurrentIndex(self.retrieve.findData(node.retrieve))
        self.move_port.setValue(node.move_port)
        self.url.setText(node.url)
        self.auth.setCurrentIndex(self.auth.findData(node.auth))
        self.username.setText(node.username)
        self.verify_tls.setChecked(node.verify_tls)
        self.ca_file.setText(node.ca_file)
        self.timeout.setValue(node.timeout)

    def _enable(self) -> None:
        """Only what the choices use can be typed: our C-MOVE port for C-MOVE, a user name for Basic, a secret
        for Basic or a bearer token."""
        self.move_port.setEnabled(self.retrieve.currentData() == "move")
        self.username.setEnabled(self.auth.currentData() == "basic")
        self.password.setEnabled(self.auth.currentData() != "none")

    def _show_kind(self) -> None:
        dimse = self.kind.currentData() == "dimse"
        for rows, shown in ((self.dimse_rows, dimse), (self.web_rows, not dimse)):
            for _label, widget in rows:
                self.form.setRowVisible(widget, shown)

    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CA certificate", "", "Certificates (*.pem *.crt);;All (*)")
        if path:
            self.ca_file.setText(path)

    def built(self) -> Node:
        """The node the form describes; PacsError (one line) when it is not valid."""
        dimse = self.kind.currentData() == "dimse"
        return Node(name=self.name.text().strip(), kind=self.kind.currentData(),
                    ae_title=self.ae_title.text().strip() if dimse else "", host=self.host.text().strip() if dimse
                    else "", port=self.port.value(), our_ae_title=self.our_ae_title.text().strip() or "RADCAM",
                    retrieve=self.retrieve.currentData(), move_port=self.move_port.value(),
                    url=self.url.text().strip() if not dimse else "", auth=self.auth.currentData(),
                    username=self.username.text().strip(), verify_tls=self.verify_tls.isChecked(),
                    ca_file=self.ca_file.text().strip(), timeout=self.timeout.value())

    def accept(self) -> None:
        try:
            self.node = self.built()
        except PacsError as exc:
            self.error.setText(str(exc))
            return
        self.secret = self.password.text()
        super().accept()


class PacsNodesPage(QWidget):
    """The nodes list with Add/Edit/Remove/Test. `test(node, show)` runs the echo off the UI thread and calls
    `show(ok, text)` when it ends; `changed` is emitted after every change of the nodes file."""

    changed = Signal()

    def __init__(self, store: NodeStore, test: Callable[[Node, Callable[[bool, str], None]], None],
                 secrets: SecretKeeper, parent: QWidget | None = None):
        super().__init__(parent)
        self.store, self.test, self.secrets = store, test, secrets
        self.confirm: Callable[[str], bool] = lambda text: sure(self, "Remove PACS node", text)
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(lambda _item: self.edit())
        self.list.currentRowChanged.connect(lambda _row: self._enable())
        self.add_button, self.edit_button = QPushButton("Add…"), QPushButton("Edit…")
        self.remove_button, self.test_button = QPushButton("Remove"), QPushButton("Test")
        self.test_button.setToolTip("C-ECHO (DIMSE) or a QIDO query (DICOMweb): does the node answer us?")
        self.add_button.clicked.connect(lambda: self.add())
        self.edit_button.clicked.connect(lambda: self.edit())
        self.remove_button.clicked.connect(self.remove)
        self.test_button.clicked.connect(self.run_test)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QVBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button, self.test_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(buttons)
        self.rows = layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Nodes are kept in {store.path}; passwords never (the system keyring keeps them, "
                                "else this session)."))
        layout.addLayout(row)
        layout.addWidget(self.result)
        self.refresh()

    def refresh(self, select: str | None = None) -> None:
        current = select or self.current_name()
        self.list.clear()
        for node in self.store.nodes.values():
            kind = "DIMSE" if node.kind == "dimse" else "DICOMweb"
            item = QListWidgetItem(f"{node.name} — {node.address()} ({kind})")
            item.setData(NAME_ROLE, node.name)
            self.list.addItem(item)
            if node.name == current:
                self.list.setCurrentItem(item)
        if self.list.currentRow() < 0 and self.list.count():
            self.list.setCurrentRow(0)
        self._enable()

    def current_name(self) -> str | None:
        item = self.list.currentItem()
        return str(item.data(NAME_ROLE)) if item is not None else None

    def _enable(self) -> None:
        chosen = self.current_name() is not None
        for button in (self.edit_button, self.remove_button, self.test_button):
            button.setEnabled(chosen)

    def add(self, dialog: NodeDialog | None = None) -> bool:
        return self._save(dialog or NodeDialog(None, self), None)

    def edit(self, dialog: NodeDialog | None = None) -> bool:
        name = self.current_name()
        if name is None:
            return False
        return self._save(dialog or NodeDialog(self.store.nodes[name], self), name)

    def _save(self, dialog: NodeDialog, old: str | None) -> bool:
        """`dialog` accepted: the node replaces `old` (renamed when its name changed) and its secret is kept."""
        if dialog.node is None and not dialog.exec():  # a test hands in a dialog it has already accepted
            return False
        node = dialog.node
        if node is None:
            return False
        before = self.store.nodes.get(old) if old is not None else None
        try:
            if old is not None and old != node.name:
                if node.name in self.store.nodes:
                    raise PacsError(f"a PACS node named {node.name!r} exists already")
                self.store.rename(old, node.name)
            elif old is None and node.name in self.store.nodes:
                raise PacsError(f"a PACS node named {node.name!r} exists already")
            self.store.put(node)
        except PacsError as exc:
            self.say(str(exc), ok=False)
            return False
        note = ""
        if before is not None and before.needs_secret and (
                (before.name, before.username) != (node.name, node.username) or not node.needs_secret):
            self.secrets.move(before, node)  # its account changed: the password follows, none stays behind
        if dialog.secret and node.needs_secret:
            kept = self.secrets.remember(node, dialog.secret)
            note = "" if kept else " No system keyring: the password is remembered for this session only."
        self.say(f"Saved {node.name}.{note}")
        self.refresh(node.name)
        self.changed.emit()
        return True

    def remove(self) -> None:
        name = self.current_name()
        if name is None:
            return
        if not self.confirm(f"Remove the PACS node {name}? Its password is forgotten too; studies retrieved "
                            "from it stay in the cache."):
            return
        node = self.store.nodes.get(name)
        try:
            self.store.remove(name)
        except PacsError as exc:
            self.say(str(exc), ok=False)
            return
        if node is not None and node.needs_secret:
            self.secrets.forget(node)  # a removed node's password does not linger in the keyring
        self.say(f"Removed {name}.")
        self.refresh()
        self.changed.emit()

    def run_test(self) -> None:
        name = self.current_name()
        if name is None:
            return
        self.say(f"Testing {name}…")
        self.test_button.setEnabled(False)
        self.test(self.store.nodes[name], self._tested)

    def _tested(self, ok: bool, text: str) -> None:
        self.test_button.setEnabled(self.current_name() is not None)
        self.say(text, ok)

    def say(self, text: str, ok: bool = True) -> None:
        """The page's one line of news: red for a failure, in the normal colour for anything after it."""
        self.result.setText(text)
        self.result.setStyleSheet("" if ok else "color: #d04040")


class CacheBox(QWidget):
    """The retrieve cache: what it holds, its size limit (least recently used studies go first beyond it), Clear.
    `ask(clear, show)` reads (or clears) it off the UI thread and calls `show(text)`."""

    def __init__(self, store: NodeStore, ask: Callable[[bool, Callable[[str], None]], None],
                 set_limit: Callable[[int], None], parent: QWidget | None = None):
        super().__init__(parent)
        self.store, self.ask, self.set_limit = store, ask, set_limit
        self.limit = QSpinBox()
        self.limit.setRange(100, 10_000_000)
        self.limit.setSingleStep(1024)
        self.limit.setSuffix(" MB")
        self.limit.setValue(store.cache_limit_mb)
        self.limit.editingFinished.connect(self._limit_changed)
        self.clear = QPushButton("Clear cache")
        self.clear.setToolTip("Remove every retrieved study from this computer (not from the PACS)")
        self.confirm: Callable[[str], bool] = lambda text: sure(self, "Clear cache", text)
        self.clear.clicked.connect(self._clear)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Cache limit"))
        row.addWidget(self.limit)
        row.addWidget(self.text, 1)
        row.addWidget(self.clear)
        self.ask(False, self.show_text)

    def show_text(self, text: str) -> None:
        self.text.setText(text)

    def _clear(self) -> None:
        if self.confirm("Remove every retrieved study from this computer? They stay on the PACS; a study open in "
                        "the worklist will no longer open until it is retrieved again."):
            self.ask(True, self.show_text)

    def _limit_changed(self) -> None:
        if self.limit.value() != self.store.cache_limit_mb:
            self.store.cache_limit_mb = self.limit.value()
            try:
                self.store.save()
            except PacsError as exc:
                self.show_text(str(exc))
                return
            self.set_limit(self.limit.value())


def sure(parent: QWidget, title: str, text: str) -> bool:
    """A destructive step asked first; No is the default, so a stray Enter does nothing."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, buttons, QMessageBox.StandardButton.No) == \
        QMessageBox.StandardButton.Yes


class PreferencesDialog(QDialog):
    """Edit → Preferences…: one tab per page (today: PACS nodes)."""

    def __init__(self, nodes_page: PacsNodesPage, cache_box: CacheBox, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.resize(720, 420)
        self.pages = QTabWidget()
        self.pages.addTab(nodes_page, "PACS nodes")
        self.nodes_page, self.cache_box = nodes_page, cache_box
        nodes_page.rows.addWidget(cache_box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        layout.addWidget(buttons)
