"""File → Export…: which panels, which format and size, which DICOM objects, caption, anonymisation, and where."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from viewer.app.exporting import DICOM_KINDS, ExportOptions
from viewer.export.explanation import FORMATS, PANELS

__all__ = ["ExportDialog", "ExportOptions"]


class ExportDialog(QDialog):
    def __init__(self, options: ExportOptions, open_images: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.panels = {key: QCheckBox(text) for key, text in PANELS.items()}
        panel_row = QHBoxLayout()
        for key, box in self.panels.items():
            box.setChecked(key in options.panels)
            box.toggled.connect(self._validate)
            panel_row.addWidget(box)
        self.format = QComboBox()
        for key, (text, _suffix) in FORMATS.items():
            self.format.addItem(text, key)
        self.format.setCurrentIndex(max(self.format.findData(options.format), 0))
        self.full = QRadioButton("Full resolution of the study")
        self.displayed = QRadioButton("As displayed (current zoom)")
        group = QButtonGroup(self)
        group.addButton(self.full)
        group.addButton(self.displayed)
        (self.full if options.full_resolution else self.displayed).setChecked(True)
        resolution = QVBoxLayout()
        resolution.addWidget(self.full)
        resolution.addWidget(self.displayed)
        self.caption = QCheckBox("Patient/study line, and the caption on the original too")
        self.caption.setToolTip("Heatmap, overlay and side-by-side exports always carry the colour bar and the "
                                "caption (model, method, target, CAM threshold, decision threshold, NOT FOR "
                                "DIAGNOSIS when the model says so)")
        self.caption.setChecked(options.caption)
        self.anonymize = QCheckBox("Anonymise (no patient data in files, names or DICOM)")
        self.anonymize.setChecked(options.anonymize)
        self.dicom = {kind: QCheckBox(text) for kind, text in zip(DICOM_KINDS, (
            "Secondary Capture", "Presentation state", "Parametric Map"), strict=True)}
        tips = ("The overlay panel, captioned, as an image any PACS stores and shows",
                "Each finding's contour and caption, drawn by PACS viewers over the original with your window; "
                "needs a DICOM original", "The CAM as float values at the original's resolution, for research "
                "pipelines; needs a DICOM original")
        dicom_row = QHBoxLayout()
        for (kind, box), tip in zip(self.dicom.items(), tips, strict=True):
            box.setChecked(kind in options.dicom)
            box.setToolTip(tip)
            dicom_row.addWidget(box)
        self.sidecar = QCheckBox("JSON record (model, method, target, scores, settings)")
        self.sidecar.setChecked(options.sidecar)
        self.batch = QCheckBox(f"Export all open images ({open_images}), explaining each with the current settings")
        self.batch.setChecked(options.batch and open_images > 1)
        self.batch.setEnabled(open_images > 1)
        self.folder = QLineEdit(str(options.folder))
        self.folder.textChanged.connect(self._validate)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Panels", panel_row)
        form.addRow("Format", self.format)
        form.addRow("Resolution", resolution)
        form.addRow("DICOM", dicom_row)
        form.addRow("", self.caption)
        form.addRow("", self.anonymize)
        form.addRow("", self.sidecar)
        form.addRow("", self.batch)
        form.addRow("Folder", folder_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self._validate()

    def options(self) -> ExportOptions:
        return ExportOptions(panels=[key for key, box in self.panels.items() if box.isChecked()],
                             format=self.format.currentData(), full_resolution=self.full.isChecked(),
                             caption=self.caption.isChecked(), anonymize=self.anonymize.isChecked(),
                             sidecar=self.sidecar.isChecked(),
                             folder=Path(self.folder.text().strip()).expanduser(), batch=self.batch.isChecked(),
                             dicom=[kind for kind, box in self.dicom.items() if box.isChecked()])

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _validate(self, *_args) -> None:
        ok = any(box.isChecked() for box in self.panels.values()) and bool(self.folder.text().strip())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
