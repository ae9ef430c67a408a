"""Issue 16, part 2 (read the map right) and the one defaults table of part 4: the colour bar with the CAM
threshold marked, decision-threshold ticks on the prediction bars, the two thresholds' names, the perceptually
ordered default colour map, and the viewer and the CLI starting from the same defaults."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402

from viewer.export.explanation import OverlayStyle  # noqa: E402
from viewer.render import COLORMAPS, DEFAULTS, colorbar, colormap_lut, heatmap, with_colorbar  # noqa: E402


def lightness(lut: np.ndarray) -> np.ndarray:
    """CIELAB L* of each entry of a (256, 3) RGB table."""
    return cv2.cvtColor(lut.reshape(1, 256, 3).astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[0, :, 0]


# -- the default colour map ------------------------------------------------------------------------------------

def test_the_default_colour_map_is_perceptually_ordered_and_jet_stays_available():
    assert DEFAULTS.colormap in ("viridis", "inferno", "magma", "cividis")
    light = lightness(colormap_lut(DEFAULTS.colormap))
    # A higher CAM value is never a darker colour (8-bit rounding: steps within 0.5 L* of flat).
    assert np.diff(light).min() > -0.5 and light[-1] - light[0] > 60
    jet = lightness(colormap_lut("jet"))
    assert np.diff(jet).min() < -1 and jet.argmax() not in (0, 255)  # why jet is not: its lightest is mid-scale
    assert {"jet", "viridis", "inferno", "magma", "cividis"} <= set(COLORMAPS)
    cam = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    assert np.array_equal(heatmap(cam), heatmap(cam, DEFAULTS.colormap))


# -- the colour bar burned into exports ------------------------------------------------------------------------

def test_colour_bar_shows_the_scale_top_one_bottom_zero_and_marks_the_cam_threshold():
    height = 600
    plain, marked = colorbar(height, "viridis", None), colorbar(height, "viridis", 0.25)
    lut = colormap_lut("viridis")
    column = plain[:, 8 + 4]  # inside the ramp (the bar starts after its padding)
    ramp = np.flatnonzero(np.any(column != 0, axis=1))
    top, bottom = ramp[0], ramp[-1]
    assert np.abs(column[top].astype(int) - lut[255]).max() <= 2  # 1 at the top
    assert np.abs(column[bottom].astype(int) - lut[0]).max() <= 2  # 0 at the bottom
    # The mark: a white line across the ramp at the threshold's row, and its label beside it.
    changed = np.flatnonzero(np.any(marked[:, :20] != plain[:, :20], axis=(1, 2)))
    row_of_threshold = bottom - 0.25 * (bottom - top)
    assert changed.size and abs(changed.mean() - row_of_threshold) <= 3
    assert (marked[round(row_of_threshold), 8:20] == 255).all()
    assert marked.shape[1] > plain.shape[1] or not np.array_equal(marked[:, 20:], plain[:, 20:])


def test_with_colorbar_keeps_the_panel_and_adds_the_bar_on_its_right():
    panel = np.full((300, 200, 3), 77, np.uint8)
    out = with_colorbar(panel, "jet", 0.4)
    assert out.shape[0] == 300 and out.shape[1] > 200
    assert np.array_equal(out[:, :200], panel)
    assert np.array_equal(out[:, 200:], colorbar(300, "jet", 0.4))


# -- one defaults table ------------------------------------------------------------------------------------------

def test_the_cli_takes_its_defaults_from_the_table():
    from viewer.cli.main import build_parser

    args = build_parser().parse_args(["explain", "x.png"])
    assert (args.threshold, args.alpha, args.colormap, args.contour) == (
        DEFAULTS.cam_threshold, DEFAULTS.opacity, DEFAULTS.colormap, DEFAULTS.contour)
    assert build_parser().parse_args(["explain", "x.png", "--no-contour"]).contour is False
    assert OverlayStyle() == OverlayStyle(DEFAULTS.cam_threshold, DEFAULTS.opacity, DEFAULTS.colormap,
                                          DEFAULTS.contour)


def test_the_viewer_takes_its_defaults_from_the_table(qtbot, tmp_path):
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import Settings

    win = MainWindow(Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat)))
    win.headless = True
    qtbot.addWidget(win)
    try:
        assert win.controls.overlay_style() == OverlayStyle() == win.state.style
        assert win.controls.colormap.currentText() == DEFAULTS.colormap
    finally:
        win.shutdown()


# -- the two thresholds in the Explain tab ----------------------------------------------------------------------

@pytest.fixture
def controls(qtbot):
    from viewer.cam import METHODS
    from viewer.ui.controls import ControlPanel

    panel = ControlPanel(dict(METHODS), list(COLORMAPS))
    qtbot.addWidget(panel)
    panel.resize(360, 700)
    panel.show()
    return panel


def test_each_prediction_bar_has_a_tick_at_its_labels_decision_threshold(qtbot, controls):
    from viewer.ui.controls import THRESHOLD_ROLE, theme

    controls.thresholds = {"nodule": 0.8}
    controls.set_predictions([{"index": 0, "name": "nodule", "score": 0.5},
                              {"index": 1, "name": "consolidation", "score": 0.2}])
    table = controls.table
    ticks = {table.item(row, 0).text().strip(): table.item(row, 1).data(THRESHOLD_ROLE) for row in range(2)}
    assert ticks == {"nodule": 0.8, "consolidation": DEFAULTS.decision_threshold}
    qtbot.waitExposed(controls)
    rect = table.visualItemRect(table.item(0, 1))
    image = table.viewport().grab(rect).toImage()
    text = QColor(theme.TEXT)
    inner = rect.width() - 8  # ScoreBar draws in the cell less 4 px a side
    dpr = image.devicePixelRatio()
    y = round(image.height() / 2)

    def is_text(x: int) -> bool:
        pixel = image.pixelColor(round(x * dpr), y)
        return abs(pixel.red() - text.red()) + abs(pixel.green() - text.green()) + abs(pixel.blue() - text.blue()) < 30
    tick = 4 + int(inner * 0.8)
    assert is_text(tick) or is_text(tick - 1)
    assert not any(is_text(x) for x in range(4 + int(inner * 0.55), 4 + int(inner * 0.7)))


def test_the_two_thresholds_are_named_apart(controls):
    from PySide6.QtWidgets import QFormLayout, QLabel

    labels = [w.text() for w in controls.findChildren(QLabel)]
    assert "CAM threshold" in labels and "Threshold" not in labels
    assert "CAM threshold" in controls.threshold.toolTip() and "decision threshold" in controls.threshold.toolTip()
    assert "decision threshold" in controls.table.toolTip() and "CAM threshold" in controls.table.toolTip()
    assert "CAM threshold" in controls.contour.toolTip()
    assert controls.findChildren(QFormLayout)


# -- the colour bar on the heatmap panel -----------------------------------------------------------------------

def test_the_heatmap_panel_shows_the_colour_bar_with_the_cam_threshold(qtbot):
    from viewer.app import ViewerState
    from viewer.ui.colorbar_overlay import ColorBarOverlay
    from viewer.ui.views import ImageView

    view = ImageView("Heatmap", windowing=False)
    qtbot.addWidget(view)
    view.resize(500, 600)
    view.show()
    state = ViewerState()
    bar = ColorBarOverlay.attach(view, state)
    assert not bar.isVisible()  # no map yet
    state.explanation = object()  # what is on screen matters, not its content
    qtbot.waitUntil(bar.isVisible)
    state.style = OverlayStyle(threshold=0.7, colormap="magma")
    assert (bar.cam_threshold, bar.colormap) == (0.7, "magma")
    assert bar.geometry().right() < view.width() and bar.geometry().left() > view.width() // 2  # at the right edge
    shot = bar.grab().toImage()
    rect = bar.bar_rect()
    lut = colormap_lut("magma")
    top = shot.pixelColor(rect.center().x(), rect.top() + 1)
    assert abs(top.red() - int(lut[255][0])) < 20 and abs(top.blue() - int(lut[255][2])) < 20
    mark = shot.pixelColor(rect.center().x(), bar.y_of(0.7))
    assert (mark.red(), mark.green(), mark.blue()) == (255, 255, 255)
    state.explanation = None
    assert not bar.isVisible()
