"""The right-hand panel: the model, its predictions, and the explanation settings.

Settings are split by cost: method, target and layer need the model (explainSettingsChanged), while threshold,
opacity, colour map and contour only redraw the overlay (overlayChanged) and never reach the model thread.
"""

from __future__ import annotations

from typing import cast

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.app.requests import ModelInfo
from viewer.app.session import method_help
from viewer.export.explanation import OverlayStyle, method_title
from viewer.render.colormaps import ColorMap
from viewer.render.defaults import DEFAULTS

from . import theme
from .panel_widgets import ElidedLabel, guard_wheel

AUTO = None  # target/layer "auto": the engine picks the top prediction / the last convolution
DECISION_THRESHOLD = DEFAULTS.decision_threshold  # a label at or above it is marked, unless the sidecar says otherwise
SCORE_ROLE = Qt.ItemDataRole.UserRole + 1
THRESHOLD_ROLE = Qt.ItemDataRole.UserRole + 2  # the label's decision threshold: a tick on its bar


class ScoreBar(QStyledItemDelegate):
    """Paints a score as a horizontal bar with its value, so the ranking reads at a glance, and a tick at the label's
    decision threshold: the model calls the finding present right of the tick."""

    def paint(self, painter: QPainter, option, index) -> None:
        score = index.data(SCORE_ROLE)
        if score is None:
            return super().paint(painter, option, index)
        painter.save()
        rect = option.rect.adjusted(4, 5, -4, -5)
        painter.fillRect(rect, QColor("#262b31"))
        filled = QRect(rect.left(), rect.top(), int(rect.width() * min(max(score, 0.0), 1.0)), rect.height())
        threshold = index.data(THRESHOLD_ROLE)
        painter.fillRect(filled, QColor(theme.POSITIVE if self.positive(index, score, threshold)
                                        else theme.ACCENT).darker(140))
        if threshold is not None:
            tick = rect.left() + int(rect.width() * min(max(threshold, 0.0), 1.0))
            painter.fillRect(QRect(tick - 1, option.rect.top() + 2, 2, option.rect.height() - 4), QColor(theme.TEXT))
        painter.setPen(QColor(theme.TEXT))
        painter.drawText(rect.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                         f"{score:.3f}")
        painter.restore()

    def positive(self, index, score: float, threshold: float | None) -> bool:
        """Whether the model calls the finding present: the Predictions table says so in the item's UserRole."""
        return bool(index.data(Qt.ItemDataRole.UserRole))


def _slider(maximum: int) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, maximum)
    slider.setPageStep(5)
    return slider


class ControlPanel(QWidget):
    explainRequested = Signal()
    explainSettingsChanged = Signal()  # method, target or layer: the explanation must be recomputed
    overlayChanged = Signal()  # threshold, opacity, colour map, contour: redraw only
    openModelRequested = Signal()

    def __init__(self, methods: dict, colormaps: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.methods = methods  # viewer.cam.METHODS: key -> MethodInfo
        self.thresholds: dict[str, float] = {}

        # Model
        self.model_name = QLabel("No model")
        self.model_name.setProperty("role", "title")
        self.model_name.setWordWrap(True)
        self.model_badge = QLabel("NOT FOR DIAGNOSIS")
        self.model_badge.setProperty("role", "badge")
        self.model_badge.hide()
        self.model_description = QLabel("")
        self.model_description.setWordWrap(True)
        self.model_details = QLabel("")
        self.model_details.setWordWrap(True)
        self.model_details.setProperty("role", "muted")
        self.model_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_model = QPushButton("Open model…")
        open_model.setToolTip("Load a Keras model (.keras, .h5) (Ctrl+M)")
        open_model.clicked.connect(self.openModelRequested)
        model_box = QGroupBox("Model")
        model_layout = QVBoxLayout(model_box)
        model_layout.addWidget(self.model_name)
        model_layout.addWidget(self.model_badge, 0, Qt.AlignmentFlag.AlignLeft)
        model_layout.addWidget(self.model_description)
        model_layout.addWidget(self.model_details)
        model_layout.addWidget(open_model, 0, Qt.AlignmentFlag.AlignLeft)

        # Predictions
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Label", "Score"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setItemDelegateForColumn(1, ScoreBar(self.table))
        self.table.setToolTip("Click a label to explain it. The tick on each bar is the label's decision threshold "
                              "(the model's cut-off for calling it present), not the CAM threshold")
        self.table.cellClicked.connect(self._on_row_clicked)
        self.table.setMinimumHeight(90)
        predictions_box = QGroupBox("Predictions")
        QVBoxLayout(predictions_box).addWidget(self.table)

        # Explanation
        self.method = QComboBox()
        for key in methods:
            self.method.addItem(method_title(key), key)
            self.method.setItemData(self.method.count() - 1, method_help(key), Qt.ItemDataRole.ToolTipRole)
        self.method_help = ElidedLabel(lines=2)  # fixed height: a longer description must not move the form
        self.method_help.setProperty("role", "muted")
        self.target = QComboBox()
        self.target.addItem("Auto (top score)", AUTO)
        self.layer = QComboBox()
        self.layer.addItem("Auto (last convolution)", AUTO)
        self.threshold = _slider(100)
        self.threshold_value = QLabel()
        self.opacity = _slider(100)
        self.opacity_value = QLabel()
        self.colormap = QComboBox()
        self.colormap.addItems(colormaps)
        self.contour = QCheckBox("Contour (C)")
        self.contour.setToolTip("Outline the regions above the CAM threshold")
        self.threshold.setToolTip("CAM threshold: map values below it are transparent in the overlay (marked on "
                                  "the colour bar). Not a label's decision threshold (the ticks in Predictions)")
        self.opacity.setToolTip("How strongly the map's colours cover the image above the CAM threshold")
        self.colormap.setToolTip(f"The map's colours, 0 to 1 (default {DEFAULTS.colormap}: perceptually ordered, "
                                 "readable with colour blindness)")
        self.threshold.setValue(round(DEFAULTS.cam_threshold * 100))
        self.opacity.setValue(round(DEFAULTS.opacity * 100))
        self.colormap.setCurrentText(DEFAULTS.colormap)
        self.contour.setChecked(DEFAULTS.contour)
        self.auto_explain = QCheckBox("Auto-explain on change")
        self.auto_explain.setToolTip("Explain again whenever the image, method, target or layer changes")
        self.explain = QPushButton("Explain")
        self.explain.setObjectName("explain")
        self.explain.setToolTip("Run the model and compute the activation map (Ctrl+Return)")
        self.explain.clicked.connect(self.explainRequested)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Method", self.method)
        form.addRow("", self.method_help)
        form.addRow("Target", self.target)
        form.addRow("Layer", self.layer)
        form.addRow("CAM threshold", self._with_value(self.threshold, self.threshold_value))
        form.addRow("Opacity", self._with_value(self.opacity, self.opacity_value))
        form.addRow("Colour map", self.colormap)
        form.addRow("", self.contour)
        form.addRow("", self.auto_explain)
        explain_box = QGroupBox("Explanation")
        explain_layout = QVBoxLayout(explain_box)
        explain_layout.addLayout(form)
        explain_layout.addWidget(self.explain)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(model_box)
        layout.addWidget(predictions_box, 1)
        layout.addWidget(explain_box)

        self.method.currentIndexChanged.connect(self._on_method)
        self.target.currentIndexChanged.connect(self._on_target)
        self.layer.currentIndexChanged.connect(lambda _: self.explainSettingsChanged.emit())
        self.threshold.valueChanged.connect(self._on_overlay_slider)
        self.opacity.valueChanged.connect(self._on_overlay_slider)
        self.colormap.currentIndexChanged.connect(lambda _: self.overlayChanged.emit())
        self.contour.toggled.connect(lambda _: self.overlayChanged.emit())
        self._on_overlay_slider()
        self._show_method_help()
        guard_wheel(self)  # scrolling past the Method box must not switch the method and re-run the model

    @staticmethod
    def _with_value(slider: QSlider, value: QLabel) -> QWidget:
        value.setMinimumWidth(value.fontMetrics().horizontalAdvance("100 %") + 4)
        value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(slider, 1)
        layout.addWidget(value)
        return row

    # -- reading the settings -------------------------------------------------------------------------------

    def method_key(self) -> str:
        return self.method.currentData()

    def target_index(self) -> int | None:
        return self.target.currentData()

    def layer_name(self) -> str | None:
        return self.layer.currentData()

    def threshold_value_f(self) -> float:
        return self.threshold.value() / 100

    def opacity_value_f(self) -> float:
        return self.opacity.value() / 100

    def overlay_style(self) -> OverlayStyle:
        """Not `style()`: that is QWidget's (its QStyle), which Qt and style sheets call."""
        colormap = cast(ColorMap, self.colormap.currentText())  # the combo lists COLORMAPS only
        return OverlayStyle(threshold=self.threshold_value_f(), alpha=self.opacity_value_f(), colormap=colormap,
                            contour=self.contour.isChecked())

    # -- changing them --------------------------------------------------------------------------------------

    def set_method(self, key: str) -> None:
        index = self.method.findData(key)
        if index >= 0:
            self.method.setCurrentIndex(index)

    def set_target(self, index: int | None) -> None:
        found = self.target.findData(index)
        self.target.setCurrentIndex(max(found, 0))

    def set_model(self, info: ModelInfo) -> None:
        """A new model: its description, its targets and its layers; target and layer back to auto."""
        self.model_name.setText(info.name)
        self.model_badge.setVisible(info.not_for_diagnosis())
        self.model_description.setText(info.description)
        self.model_description.setVisible(bool(info.description))
        self.model_details.setText("\n".join(info.details()))
        self.thresholds = info.thresholds
        self.layer.setItemText(0, f"Auto ({info.default_layer})" if info.default_layer else "Auto")
        for combo, entries in ((self.target, list(enumerate(info.targets))), (self.layer, info.layers)):
            combo.blockSignals(True)
            while combo.count() > 1:
                combo.removeItem(1)
            for data, text in entries:
                combo.addItem(str(text), data)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        self.set_predictions([])

    def set_model_status(self, name: str, details: str) -> None:
        self.model_name.setText(name)
        self.model_badge.hide()
        self.model_description.hide()
        self.model_details.setText(details)

    def set_predictions(self, predictions: list[dict], target: int | None = None) -> None:
        """Rows of {index, name, score}, best first; labels at or above their decision threshold are marked."""
        predictions = sorted(predictions, key=lambda p: -p["score"])
        self.table.setRowCount(len(predictions))
        bold = QFont(self.table.font())
        bold.setBold(True)
        for row, prediction in enumerate(predictions):
            threshold = self.thresholds.get(prediction["name"], DECISION_THRESHOLD)
            positive = prediction["score"] >= threshold
            label = QTableWidgetItem(("● " if positive else "   ") + str(prediction["name"]))
            label.setData(Qt.ItemDataRole.UserRole, prediction["index"])
            label.setToolTip(f"score {prediction['score']:.4f}, decision threshold {threshold:g}"
                             + (" (reached)" if positive else "") + "\nClick to explain this label")
            if positive:
                label.setForeground(QColor(theme.POSITIVE))
                label.setFont(bold)
            score = QTableWidgetItem()
            score.setData(SCORE_ROLE, float(prediction["score"]))
            score.setData(Qt.ItemDataRole.UserRole, positive)
            score.setData(THRESHOLD_ROLE, float(threshold))
            score.setToolTip(f"score {prediction['score']:.4f}; tick: decision threshold {threshold:g}")
            self.table.setItem(row, 0, label)
            self.table.setItem(row, 1, score)
            if target is not None and prediction["index"] == target:
                self.table.selectRow(row)
        self.table.resizeRowsToContents()

    def auto(self) -> bool:
        """Whether a new image or a changed setting is explained at once."""
        return self.auto_explain.isChecked()

    def set_explain_enabled(self, enabled: bool) -> None:
        self.explain.setEnabled(enabled)

    def next_method(self) -> None:
        self.method.setCurrentIndex((self.method.currentIndex() + 1) % self.method.count())

    def nudge(self, threshold: int = 0, opacity: int = 0) -> None:
        """Move the threshold and opacity sliders by whole percent (the keys [ ] , .)."""
        self.threshold.setValue(self.threshold.value() + threshold)
        self.opacity.setValue(self.opacity.value() + opacity)

    def set_busy(self, busy: bool) -> None:
        self.explain.setText("Explaining…" if busy else "Explain")

    # -- signals --------------------------------------------------------------------------------------------

    def _on_row_clicked(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.set_target(item.data(Qt.ItemDataRole.UserRole))

    def _on_method(self, _index: int) -> None:
        self._show_method_help()
        self.explainSettingsChanged.emit()

    def _on_target(self, _index: int) -> None:
        self.explainSettingsChanged.emit()

    def _show_method_help(self) -> None:
        self.method_help.setText(method_help(self.method_key()))

    def _on_overlay_slider(self, _value: int = 0) -> None:
        self.threshold_value.setText(f"{self.threshold_value_f():.2f}")
        self.opacity_value.setText(f"{self.opacity.value()} %")
        self.overlayChanged.emit()
