"""The "Trust" tab: how far the current map can be trusted (faithfulness curves, a sanity check, pointing).

The numbers come from viewer.trust, computed on the model thread; this widget only shows them.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from . import theme

DELETION_COLOUR = "#e07b5f"
INSERTION_COLOUR = "#5fb0e0"


class CurvePlot(QWidget):
    """Deletion and insertion curves: target score (0..1) against the fraction of pixels removed or revealed."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.curves: dict | None = None
        self.setMinimumHeight(120)

    def set_curves(self, curves: dict | None) -> None:
        self.curves = curves
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(30, 8, -8, -20)
        painter.setPen(QPen(QColor("#3a4048"), 1))
        painter.drawRect(area)
        painter.setPen(QColor(theme.MUTED))
        painter.drawText(QRectF(0, area.top() - 6, 26, 14), Qt.AlignmentFlag.AlignRight, "1")
        painter.drawText(QRectF(0, area.bottom() - 8, 26, 14), Qt.AlignmentFlag.AlignRight, "0")
        painter.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), 16), Qt.AlignmentFlag.AlignHCenter,
                         "fraction of pixels, most important first")
        if not self.curves:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "not computed")
            return
        for key, colour in (("deletion", DELETION_COLOUR), ("insertion", INSERTION_COLOUR)):  # scores in [0, 1]
            path = QPainterPath()
            for i, (x, y) in enumerate(zip(self.curves["fractions"], self.curves[key], strict=True)):
                point = QPointF(area.left() + x * area.width(), area.bottom() - y * area.height())
                path.moveTo(point) if i == 0 else path.lineTo(point)
            painter.setPen(QPen(QColor(colour), 2))
            painter.drawPath(path)


class TrustPanel(QWidget):
    checkRequested = Signal()
    compareRequested = Signal()
    clearBoxRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = CurvePlot()
        self.curve_text = QLabel()
        self.curve_text.setWordWrap(True)
        self.confidence_text = QLabel()
        self.confidence_text.setWordWrap(True)
        self.confidence_text.setProperty("role", "muted")
        self.sanity_badge = QLabel()
        self.sanity_badge.setProperty("role", "badge")
        self.sanity_badge.hide()
        self.sanity_text = QLabel()
        self.sanity_text.setWordWrap(True)
        self.pointing_text = QLabel()
        self.pointing_text.setWordWrap(True)
        self.check = QPushButton("Check this map")
        self.check.setObjectName("explain")
        self.check.setToolTip("Deletion/insertion curves, the model-randomisation check and the baselines (Ctrl+T)")
        self.check.clicked.connect(self.checkRequested)
        self.automatic = QCheckBox("Check every new map automatically")
        self.automatic.setToolTip("Costs about 2 × 17 forward passes plus one map on a randomised model copy")
        compare = QPushButton("Compare all methods…")
        compare.setToolTip("Every method's overlay for this image, side by side (exportable)")
        compare.clicked.connect(self.compareRequested)
        clear = QPushButton("Clear box")
        clear.clicked.connect(self.clearBoxRequested)

        faithfulness = QGroupBox("Faithfulness (deletion / insertion)")
        layout = QVBoxLayout(faithfulness)
        layout.addWidget(self.plot)
        layout.addWidget(self.curve_text)
        layout.addWidget(self.confidence_text)
        sanity = QGroupBox("Sanity check (model randomisation)")
        layout = QVBoxLayout(sanity)
        layout.addWidget(self.sanity_badge, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.sanity_text)
        pointing = QGroupBox("Pointing (Shift+drag a box on the image)")
        layout = QVBoxLayout(pointing)
        layout.addWidget(self.pointing_text)
        layout.addWidget(clear, 0, Qt.AlignmentFlag.AlignLeft)

        main = QVBoxLayout(self)
        main.setContentsMargins(6, 6, 6, 6)
        main.addWidget(faithfulness)
        main.addWidget(sanity)
        main.addWidget(pointing)
        main.addStretch(1)
        main.addWidget(self.automatic)
        main.addWidget(compare)
        main.addWidget(self.check)
        self.clear()

    def clear(self, reason: str = "Explain an image, then check its map.") -> None:
        self.plot.set_curves(None)
        self.curve_text.setText(reason)
        self.confidence_text.setText("")
        self.sanity_badge.hide()
        self.sanity_text.setText("")
        self.set_pointing(None)

    def automatic_checks(self) -> bool:
        """Whether every new map is checked as soon as it is shown."""
        return self.automatic.isChecked()

    def set_busy(self, busy: bool) -> None:
        self.check.setText("Checking…" if busy else "Check this map")

    def set_report(self, report: dict) -> None:
        """`report`: viewer.trust's evaluation of one map, as its to_dict() gives it."""
        curves = report["curves"]
        self.plot.set_curves(curves)
        baselines = report.get("baselines", {})
        rows = [f"<span style='color:{DELETION_COLOUR}'>Deletion AUC {curves['deletion_auc']:.3f}</span> "
                "(lower is better) · "
                f"<span style='color:{INSERTION_COLOUR}'>insertion AUC {curves['insertion_auc']:.3f}</span> "
                "(higher is better)"]
        for name, baseline in baselines.items():
            rows.append(f"{name} map: deletion {baseline['curves']['deletion_auc']:.3f}, "
                        f"insertion {baseline['curves']['insertion_auc']:.3f}")
        self.curve_text.setText("<br>".join(rows))
        confidence = report.get("confidence")
        self.confidence_text.setText(
            f"Keeping only what the map shows: average drop {confidence['average_drop']:.1%}, "
            f"increase {'yes' if confidence['increase'] else 'no'}" if confidence else "")
        sanity = report.get("randomisation")
        if sanity:
            passed = sanity["verdict"] == "pass"
            self.sanity_badge.setText("MAP DEPENDS ON THE MODEL" if passed else "MAP BARELY DEPENDS ON THE MODEL")
            self.sanity_badge.setStyleSheet(f"background: {theme.POSITIVE if not passed else '#5fb06a'};")
            self.sanity_badge.show()
            self.sanity_text.setText(sanity.get("explanation", ""))

    def set_pointing(self, result: dict | None) -> None:
        if result is None:
            self.pointing_text.setText("Draw a box around the finding (Shift+drag on any view) to see whether the "
                                       "map points into it.")
            return
        verdict = "HIT: the map's maximum is in the box" if result["hit"] else "MISS: the maximum is outside the box"
        self.pointing_text.setText(f"<b>{verdict}</b><br>{result['energy']:.0%} of the map's mass lies inside "
                                   f"(within {result['tolerance']:g} px)")
