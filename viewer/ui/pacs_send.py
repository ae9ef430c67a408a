"""File → Send to PACS…: the question (which node, which DICOM objects, anonymised or not) and the export it sends.

The files are written by viewer.app.exporting, exactly as File → Export writes them, into a temporary folder that
the send job removes; under Anonymise Display (or when asked) they are the anonymised ones, so nothing that leaves
for the PACS names the patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from viewer.app import ViewerState
from viewer.app.pacs_jobs import Export
from viewer.errors import ExportError
from viewer.progress import Reporter

KINDS = {"sc": "Secondary Capture (the overlay as an image)",
         "gsps": "Presentation state, GSPS (contours and labels over the original)",
         "pmap": "Parametric Map (the CAM as float values)"}
DEFAULT_KINDS = ("sc", "gsps")


class SendDialog(QDialog):
    def __init__(self, nodes: Sequence[str], anonymous: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Send to PACS")
        self.node = QComboBox()
        self.node.addItems(list(nodes))
        self.boxes = {key: QCheckBox(text) for key, text in KINDS.items()}
        for key, box in self.boxes.items():
            box.setChecked(key in DEFAULT_KINDS)
        self.anonymous = QCheckBox("Anonymise (no patient name, ID or file name leaves RadCAM)")
        self.anonymous.setChecked(anonymous)
        self.anonymous.setEnabled(not anonymous)  # Anonymise Display is on: always anonymised
        form = QFormLayout()
        form.addRow("Node", self.node)
        objects = QVBoxLayout()
        for box in self.boxes.values():
            objects.addWidget(box)
        form.addRow("Send", objects)
        form.addRow("", self.anonymous)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Send")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        for box in self.boxes.values():
            box.toggled.connect(lambda _on: buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(
                bool(self.kinds())))
        # Anonymised, they reference the original under new UIDs, which the PACS does not hold
        self.orphan_note = QLabel("Anonymised, the presentation state and the map reference a pseudonymous copy "
                                  "of the original that the PACS does not hold: a PACS viewer cannot show them "
                                  "over the original there.")
        self.orphan_note.setWordWrap(True)
        for box in (*self.boxes.values(), self.anonymous):
            box.toggled.connect(lambda _on: self._note())
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Needs a DICOM original for the presentation state and the parametric map."))
        layout.addWidget(self.orphan_note)
        layout.addWidget(buttons)
        self._note()

    def _note(self) -> None:
        referencing = self.boxes["gsps"].isChecked() or self.boxes["pmap"].isChecked()
        self.orphan_note.setVisible(referencing and self.anonymous.isChecked())

    def node_name(self) -> str:
        return self.node.currentText()

    def kinds(self) -> list[str]:
        return [key for key, box in self.boxes.items() if box.isChecked()]

    def anonymize(self) -> bool:
        return self.anonymous.isChecked()


def explanation_export(window: Any, state: ViewerState, kinds: list[str], anonymize: bool) -> Export:
    """The export of the explanation on screen as `kinds`, read from the state now (on the UI thread), written
    later into the send job's folder. ExportError (one line) when there is nothing to send."""
    from viewer.app.exporting import ExportOptions, ExportPlan

    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise ExportError(f"nothing to send: choose one of {', '.join(KINDS)}" if not kinds
                          else f"unknown DICOM kind {unknown[0]!r}")
    # only the DICOM objects: no picture panels, no JSON sidecar (it names the source file)
    options = ExportOptions(panels=[], caption=True, anonymize=anonymize, sidecar=False, dicom=list(kinds))
    plan = ExportPlan(state, options, [], 100.0)
    refusal = plan.refusal()
    if refusal is not None:
        raise ExportError(refusal)
    job = plan.job(window.session, window.decoder.image)

    def export(folder: Path, reporter: Reporter) -> list[Path]:
        options.folder = folder  # the send job's own temporary folder
        return job(reporter)
    return export
