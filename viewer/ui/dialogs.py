"""Small dialogs: keyboard shortcuts, about (versions and device), and the explicit trust question for models."""

from __future__ import annotations

from importlib import metadata

from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer import __version__


def package_version(name: str) -> str:
    """A package's version without importing it (importing TensorFlow takes seconds and belongs to the worker)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text(device: str) -> str:
    rows = [("RadCAM", __version__), ("TensorFlow", package_version("tensorflow")),
            ("Keras", package_version("keras")), ("Qt", qVersion()), ("PySide6", package_version("PySide6")),
            ("pydicom", package_version("pydicom")), ("Device", device or "not known yet (no model loaded)")]
    table = "".join(f"<tr><td>{name}</td><td>&nbsp;&nbsp;{value}</td></tr>" for name, value in rows)
    return (f"<h3>RadCAM {__version__}</h3><p>Chest X-ray viewer that shows why a classifier decided "
            f"(class activation maps).</p><table>{table}</table>"
            "<p><b>Not a medical device.</b> Not for diagnosis.</p>")


def show_about(parent: QWidget, device: str) -> None:
    QMessageBox.about(parent, "About RadCAM", about_text(device))


class ShortcutsDialog(QDialog):
    """Every menu action that has a shortcut, generated from the menus so it can never go out of date."""

    def __init__(self, actions: list[tuple[str, QAction]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(menu, action.text().replace("&", ""),
                 ", ".join(s.toString(s.SequenceFormat.NativeText) for s in action.shortcuts()))
                for menu, action in actions if action.shortcuts()]
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["Menu", "Command", "Keys"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                table.setItem(row, column, QTableWidgetItem(value))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        notes = QLabel("Mouse: wheel zooms, left or middle drag pans, right drag sets window/level "
                       "(right/left = width, down/up = centre), double-click fits. The three views move together.")
        notes.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(notes)
        layout.addWidget(buttons)
        self.resize(620, 560)


def confirm_trust(parent: QWidget, path: str, reason: str) -> bool:
    """Unsafe deserialisation can run code from the file: the user must tick "I trust this file" to go on."""
    dialog = QMessageBox(parent)
    dialog.setIcon(QMessageBox.Icon.Warning)
    dialog.setWindowTitle("Load a model that can run code?")
    dialog.setText(f"<b>{path}</b><br>needs unsafe deserialisation: loading it can run code stored in the file.")
    dialog.setInformativeText(f"{reason}\n\nRadCAM remembers this file's SHA-256 fingerprint: "
                              "it will not ask again for this file, and asks again if the file changes.")
    trust = QCheckBox("I trust this file")
    dialog.setCheckBox(trust)
    load = dialog.addButton("Load", QMessageBox.ButtonRole.AcceptRole)
    dialog.addButton(QMessageBox.StandardButton.Cancel)
    load.setEnabled(False)
    trust.toggled.connect(load.setEnabled)
    dialog.setTextFormat(Qt.TextFormat.RichText)
    dialog.exec()
    return dialog.clickedButton() is load and trust.isChecked()
