"""The "Trust" tab: one verdict on the current map, its reasons, and the measures behind it one click away.

The numbers and the verdict come from viewer.trust (computed on the model thread; the verdict by
viewer.trust.verdict.judge_report); this widget only shows them. The badge is green for a faithful map only: a
green badge over a map that a random map beats would read as "trust it".
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGroupBox,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .trust_tables import class_table, curve_table, road_table

DELETION_COLOUR = "#e07b5f"
INSERTION_COLOUR = "#5fb0e0"
GOOD = "#5fb06a"
# verdict → (badge words, badge colour); green for `faithful` alone.
VERDICT_LOOK = {
    "faithful": ("FAITHFUL TO THE MODEL", GOOD),
    "inconclusive": ("INCONCLUSIVE: NOT SHOWN TO BE FAITHFUL", theme.WARNING),
    "not-faithful": ("NOT FAITHFUL: A BASELINE MAP DOES BETTER", theme.ERROR),
    "model-independent": ("MODEL-INDEPENDENT: THE MAP IGNORES THE MODEL", theme.ERROR),
}
VERDICT_RULES = ("Faithful: removing what the map ranks first beats a random and an edge map under both fills "
                 "(blur deletion and ROAD) and the map changes when the model is randomised.\n"
                 "Not faithful: a baseline map beats it.\nInconclusive: the measures disagree, or one did not run.\n"
                 "Model-independent: the map survives randomising the model, whatever the curves say.")


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


def _label(muted: bool = False) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    if muted:
        label.setProperty("role", "muted")
    return label


def _group(title: str, *widgets: QWidget, last: QWidget | None = None) -> QGroupBox:
    """A titled box of `widgets` one under the other; `last` (a button) at the bottom left, at its own width."""
    group = QGroupBox(title)
    layout = QVBoxLayout(group)
    for widget in widgets:
        layout.addWidget(widget)
    if last is not None:
        layout.addWidget(last, 0, Qt.AlignmentFlag.AlignLeft)
    return group


class TrustPanel(QWidget):
    checkRequested = Signal()
    compareRequested = Signal()
    clearBoxRequested = Signal()
    detailsToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.verdict = ""  # the verdict shown ("" before a check)
        self._colour = ""  # the badge's background
        self._shown = ("", "")  # (label, method title) of the checked map
        self.heading = _label(muted=True)
        self.badge = QLabel()
        self.badge.setProperty("role", "badge")
        self.badge.setWordWrap(True)
        self.badge.setToolTip(VERDICT_RULES)
        self.badge.hide()
        self.reasons = _label()
        self.class_text = _label()
        self.classes = _group("Classes: every label's map of this image", self.class_text)
        self.classes.hide()

        self.details_button = QToolButton()
        self.details_button.setText("Details")  # short: a wider button widened the tab past its scroll area
        self.details_button.setToolTip("Blur deletion and insertion curves, ROAD, the sanity check and pointing, "
                                       "each beside the random and edge maps")
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setAutoRaise(True)
        self.details_button.toggled.connect(self._show_details)

        self.plot = CurvePlot()
        self.curve_text = _label()
        self.confidence_text = _label(muted=True)
        self.road_text = _label()
        self.sanity_text = _label()
        self.pointing_text = _label()
        clear = QPushButton("Clear box")
        clear.clicked.connect(self.clearBoxRequested)
        self.details = QWidget()
        details = QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        details.addWidget(_group("Blur deletion / insertion", self.plot, self.curve_text, self.confidence_text))
        details.addWidget(_group("ROAD (noisy linear imputation)", self.road_text))
        details.addWidget(_group("Sanity check (model randomisation)", self.sanity_text))
        details.addWidget(_group("Pointing (Shift+drag a box on the image)", self.pointing_text, last=clear))
        self.details.hide()

        self.check = QPushButton("Check this map")
        self.check.setObjectName("explain")
        self.check.setToolTip("The verdict: blur deletion/insertion, ROAD, the model-randomisation check and the "
                              "random and edge baselines (Ctrl+T)")
        self.check.clicked.connect(self.checkRequested)
        self.automatic = QCheckBox("Check every new map automatically")
        self.automatic.setToolTip("Each check costs tens of forward passes plus one map on a randomised model copy")
        compare = QPushButton("Compare all methods…")
        compare.setToolTip("Every method's overlay for this image, side by side (exportable)")
        compare.clicked.connect(self.compareRequested)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.heading)
        layout.addWidget(self.badge)
        layout.addWidget(self.reasons)
        layout.addWidget(self.classes)
        layout.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details)
        layout.addStretch(1)
        scroll = QScrollArea()  # the details are taller than a short window
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        self.scroll_area = scroll
        main = QVBoxLayout(self)
        main.setContentsMargins(0, 0, 0, 6)
        main.addWidget(scroll, 1)
        for widget in (self.automatic, compare, self.check):
            row = QVBoxLayout()
            row.setContentsMargins(6, 0, 6, 0)
            row.addWidget(widget)
            main.addLayout(row)
        self.clear()

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.detailsToggled.emit(shown)

    def details_shown(self) -> bool:
        return self.details_button.isChecked()

    def show_details(self, shown: bool) -> None:
        self.details_button.setChecked(shown)

    def clear(self, reason: str = "Explain an image, then check its map.") -> None:
        self.verdict = ""
        self.heading.setText(reason)
        self.badge.hide()
        self.reasons.setText("")
        self.classes.hide()
        self.class_text.setText("")
        self.plot.set_curves(None)
        self.curve_text.setText("Not measured yet.")
        self.confidence_text.setText("")
        self.road_text.setText("Not measured yet.")
        self.sanity_text.setText("Not run yet.")
        self.set_pointing(None)

    def automatic_checks(self) -> bool:
        """Whether every new map is checked as soon as it is shown."""
        return self.automatic.isChecked()

    def set_busy(self, busy: bool) -> None:
        self.check.setText("Checking…" if busy else "Check this map")

    def set_report(self, report: dict, method: str = "", target: str = "") -> None:
        """`report`: viewer.trust's evaluation of one map, as its to_dict() gives it, with the session's
        "baselines", "verdict" and "verdict_reasons" (and "classes" for a model with several labels); `method`:
        the map's method title, `target`: the label it explains."""
        self.heading.setText(f"Verdict on this {method or 'map'}{' map' if method else ''}:")
        self.set_verdict(report.get("verdict"), report.get("verdict_reasons", ()))
        baselines = report.get("baselines", {})
        curves = report["curves"]
        self.plot.set_curves(curves)
        self.curve_text.setText(curve_table(curves, {name: found["curves"] for name, found in baselines.items()},
                                            DELETION_COLOUR, INSERTION_COLOUR))
        confidence = report.get("confidence")
        self.confidence_text.setText(
            f"Keeping only what the map shows: average drop {confidence['average_drop']:.1%}, "
            f"increase {'yes' if confidence['increase'] else 'no'}" if confidence else "")
        road = report.get("road")
        self.road_text.setText(road_table(road, {name: found.get("road") for name, found in baselines.items()})
                               if road else "Not measured for this map.")
        sanity = report.get("randomisation")
        if sanity:
            outcome = {"pass": "passed: the map changes when the model is randomised",
                       "fail": "failed: the map barely changes when the model is randomised"}.get(
                sanity["verdict"], "did not apply")
            self.sanity_text.setText(f"<b>{outcome.capitalize()}</b><br>{escape(sanity.get('explanation', ''))}")
        else:
            self.sanity_text.setText("Not run.")
        self._shown = (target, method)
        self.set_classes(report.get("classes"))

    def set_verdict(self, verdict: str | None, reasons) -> None:
        words, colour = VERDICT_LOOK.get(verdict or "", ("NO VERDICT", theme.WARNING))
        self.verdict, self._colour = verdict or "", colour
        self.badge.setText(words)
        self.badge.setStyleSheet(f"background: {colour}; font-size: 12pt; padding: 4px 8px;")
        self.badge.show()
        self.reasons.setText("".join(f"<p style='margin:2px 0'>• {escape(reason)}</p>" for reason in reasons))

    def badge_colour(self) -> str:
        """The badge's background colour, as set_verdict chose it."""
        return self._colour

    def set_classes(self, classes: dict | None) -> None:
        """viewer.trust.classes' report for the map set_report() showed (its label marked), or None to hide."""
        self.classes.setVisible(bool(classes))
        self.class_text.setText(class_table(classes, *self._shown) if classes else "")

    def set_pointing(self, result: dict | None) -> None:
        if result is None:
            self.pointing_text.setText("Draw a box around the finding (Shift+drag on any view) to see whether the "
                                       "map points into it.")
            return
        verdict = "HIT: the map's maximum is in the box" if result["hit"] else "MISS: the maximum is outside the box"
        self.pointing_text.setText(f"<b>{verdict}</b><br>{result['energy']:.0%} of the map's mass lies inside "
                                   f"(within {result['tolerance']:g} px)")
