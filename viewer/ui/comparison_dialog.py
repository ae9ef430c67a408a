"""Every method's overlay for the current image, side by side, and a button that saves the grid as a PNG.

The cells are laid out in a scene fitted to the dialog (twelve 768 px cells at 1:1 left most of them out of sight);
the wheel zooms, a drag pans, F fits and Ctrl+1 shows 1:1. Titles are drawn in screen pixels on a dark backing, so
they stay legible at any zoom; the saved PNG is the grid with its titles burned in.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from viewer.errors import RadcamError
from viewer.export import save_image

from . import theme
from .views import to_qimage

COLUMNS = 4  # as in the saved grid (ModelSession.compare)
GAP = 8  # scene px between cells
LABEL_PAD = 3  # screen px around a title


class _GridView(QGraphicsView):
    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None):
        super().__init__(scene, parent)
        self.fitted = True  # refitted on resize until the reader zooms
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor("#000000"))

    def fit(self) -> None:
        self.fitted = True
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def actual_size(self) -> None:
        self.fitted = False
        self.resetTransform()

    def scale_factor(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        steps = event.angleDelta().y() / 120
        if steps:
            self.fitted = False
            self.scale(1.25 ** steps, 1.25 ** steps)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if self.fitted:
            self.fit()


class ComparisonDialog(QDialog):
    def __init__(self, grid: np.ndarray, panels: list[tuple[str, np.ndarray]], suggested_path: str,
                 parent: QWidget | None = None, header: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Method comparison")
        self.setSizeGripEnabled(True)
        self.grid = grid
        self.suggested_path = suggested_path
        self.scene = QGraphicsScene(self)
        side = max((max(image.shape[:2]) for _, image in panels), default=1)  # square cells, as in the grid
        self.labels = [self._add_cell(number, side, title, image) for number, (title, image) in enumerate(panels)]
        self.scene.setSceneRect(self.scene.itemsBoundingRect())
        self.view = _GridView(self.scene)

        heading = QLabel(header)
        heading.setProperty("role", "muted")
        heading.setVisible(bool(header))
        fit = QPushButton("Fit")
        fit.setShortcut(QKeySequence("F"))
        fit.setToolTip("Show every method in the window (F); the wheel zooms, a drag pans")
        fit.clicked.connect(self.view.fit)
        actual = QPushButton("1:1")
        actual.setShortcut(QKeySequence("Ctrl+1"))
        actual.setToolTip("One image pixel per screen pixel (Ctrl+1)")
        actual.clicked.connect(self.view.actual_size)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close)
        buttons.addButton(fit, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(actual, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.accepted.connect(self.save_dialog)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)
        self.resize(self._first_size())

    def _add_cell(self, number: int, side: int, title: str, image: np.ndarray) -> QGraphicsSimpleTextItem:
        row, column = divmod(number, COLUMNS)
        pixmap = self.scene.addPixmap(QPixmap.fromImage(to_qimage(image)))
        pixmap.setPos(column * (side + GAP), row * (side + GAP))
        # A title in screen pixels (ItemIgnoresTransformations) on a dark box, pinned to the cell's top-left.
        backing = QGraphicsRectItem()
        backing.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        backing.setBrush(QBrush(QColor(0, 0, 0, 190)))
        backing.setPen(QPen(Qt.PenStyle.NoPen))
        label = QGraphicsSimpleTextItem(title, backing)
        label.setBrush(QBrush(QColor(theme.TEXT)))
        label.setPos(LABEL_PAD, LABEL_PAD)
        backing.setRect(QRectF(label.boundingRect()).adjusted(0, 0, 2 * LABEL_PAD, 2 * LABEL_PAD))
        backing.setPos(pixmap.pos())
        backing.setZValue(1)
        self.scene.addItem(backing)
        return label

    def _first_size(self):
        """Most of the screen: the grid is far larger than any dialog, and the reader may resize it."""
        screen = (self.parentWidget() or self).screen().availableGeometry()
        return screen.size() * 0.8

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.view.fitted:
            self.view.fit()

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
