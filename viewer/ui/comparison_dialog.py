"""Every method's overlay for the current image, side by side, and a button that saves the grid as a PNG."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from viewer.errors import RadcamError
from viewer.export import save_image

from .views import to_qimage


class ComparisonDialog(QDialog):
    def __init__(self, grid: np.ndarray, suggested_path: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Method comparison")
        self.grid = grid
        self.suggested_path = suggested_path
        picture = QLabel()
        picture.setPixmap(QPixmap.fromImage(to_qimage(grid)))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(picture)
        scroll.setWidgetResizable(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.save_dialog)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        self.resize(1200, 800)

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save comparison", self.suggested_path, "PNG image (*.png)")
        if path:
            self.save(path, overwrite=True)  # the file dialog has asked about replacing

    def save(self, path: str, overwrite: bool = False) -> bool:
        try:
            save_image(path, self.grid, overwrite=overwrite)
        except RadcamError as exc:
            QMessageBox.warning(self, "Cannot save", str(exc))
            return False
        return True
