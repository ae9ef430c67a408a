"""Viewer basics in the window (pytest-qt, offscreen): flips and quarter turns on every panel with the note and the
edge letters, the magnifier, the ruler and the CTR drawn on every panel, and R."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import opened, write_dicom  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from viewer.app.measure import Measurement  # noqa: E402
from viewer.app.orientation import Orientation  # noqa: E402

NIH = "/work/shared/fixtures/dicom/dx_chest_nih_uncompressed.dcm"


@pytest.fixture
def window(exposed_window):
    return exposed_window


def action(win, keys: str):
    return next(a for _menu, a in win.menus.all_actions() if keys in [s.toString() for s in a.shortcuts()])


def screen_of(view, x: float, y: float) -> QPoint:
    return view.mapFromScene(QPointF(x, y))


def test_flips_and_turns_move_every_panel_and_say_so(qtbot, window, tmp_path):
    path = write_dicom(tmp_path / "pa.dcm", np.zeros((200, 400), np.uint8), PatientOrientation=["L", "F"])
    opened(qtbot, window, path)
    views = window.views
    for view in views.values():
        assert view.mapFromScene(QPointF(0, 0)).x() < view.mapFromScene(QPointF(400, 0)).x()
    assert window.tools.labels["original"].labels == {"right": "L", "left": "R", "bottom": "F", "top": "H"}
    action(window, "H").trigger()
    assert window.state.orientation == Orientation().flipped_h()
    for view in views.values():  # the file's left column is now on the right
        assert view.mapFromScene(QPointF(0, 100)).x() > view.mapFromScene(QPointF(400, 100)).x()
        assert "Flipped H" in view.corner_text["bottom_right"]
    assert window.tools.labels["overlay"].labels["right"] == "R"
    action(window, "Ctrl+R").trigger()
    overlay = views["overlay"]
    top, bottom = overlay.mapFromScene(QPointF(200, 0)), overlay.mapFromScene(QPointF(200, 200))
    assert top.x() > bottom.x() and abs(top.y() - bottom.y()) <= 1  # the file's rows now run across the screen
    assert {"Flipped H", "Rotated 90°"} <= set(overlay.corner_text["bottom_right"])
    assert abs(overlay.zoom * 100 - int(next(x for x in overlay.corner_text["bottom_right"]
                                             if x.startswith("Zoom")).split()[1])) <= 1
    # Fitted turned: the 400 px side runs down the panel and fits inside it.
    assert overlay.zoom * 400 <= overlay.viewport().height()
    action(window, "R").trigger()
    assert window.state.orientation == Orientation()
    assert not any("Flipped" in line for line in overlay.corner_text["bottom_right"])


def test_a_ruler_in_mm_shown_on_every_panel(qtbot, window, tmp_path):
    path = write_dicom(tmp_path / "mm.dcm", np.zeros((300, 300), np.uint8), PixelSpacing=[0.5, 0.5])
    opened(qtbot, window, path)
    action(window, "D").trigger()
    assert window.tools.measure.tool == "ruler"
    view = window.views["original"]
    start, end = screen_of(view, 50, 100), screen_of(view, 250, 100)
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(view.viewport(), end)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    (ruler,) = window.state.measurements
    assert ruler.kind == "ruler"
    assert ruler.labels(None)[0].endswith("px (uncalibrated)")
    from viewer.app.measure import spacing

    text = ruler.labels(spacing(window.state.image.dataset))[0]
    assert text.endswith(" mm") and abs(float(text.split()[0]) - 100.0) < 2  # 200 px at 0.5 mm, give or take a pixel
    for name in window.views:  # drawn on all panels, the label as the state says
        labels = [item.text() for item in window.tools.measure._items[name] if hasattr(item, "text")]
        assert labels == [text], name
    # The pan did not happen: the left button measured.
    assert view.mapFromScene(QPointF(50, 100)) == start
    action(window, "D").trigger()
    assert window.tools.measure.tool == ""


def test_the_ctr_on_the_nih_film_is_uncalibrated_and_stays_per_image(qtbot, window, tmp_path):
    opened(qtbot, window, NIH)  # no PixelSpacing nor ImagerPixelSpacing in this file
    action(window, "Ctrl+Shift+C").trigger()
    view = window.views["overlay"]
    for (x0, x1, y) in ((380, 640, 600), (200, 830, 560)):
        a, b = screen_of(view, x0, y), screen_of(view, x1, y + 30)  # a slanted drag still gives a horizontal span
        QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
        QTest.mouseMove(view.viewport(), b)
        QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    (ctr,) = window.state.measurements
    assert ctr.kind == "ctr" and ctr.complete()
    assert all(span[1] == span[3] for span in ctr.spans)
    assert ctr.ratio() == pytest.approx(260 / 630, abs=0.01)
    assert ctr.labels(None)[1].startswith("Thoracic") and "uncalibrated" in ctr.labels(None)[1]
    opened(qtbot, window, write_dicom(tmp_path / "next.dcm", np.zeros((50, 50), np.uint8)))
    qtbot.waitUntil(lambda: window.state.measurements == ())


def test_the_magnifier_follows_the_pointer_on_any_panel(qtbot, window, tmp_path):
    opened(qtbot, window, NIH)
    action(window, "L").trigger()
    heatmap = window.views["original"]
    loupe = next(loupe for loupe in window.tools.loupes if loupe.view is heatmap)
    at = screen_of(heatmap, 512, 512)
    QTest.mouseMove(heatmap.viewport(), at)
    qtbot.waitUntil(loupe.isVisible)
    assert loupe.geometry().center().x() == pytest.approx(at.x(), abs=2)
    source = loupe.source()  # about a third of the pixels the same circle covers on the panel
    assert source.width() * heatmap.zoom * 3 == pytest.approx(loupe.width(), rel=0.01)
    # Centred on the pixel under the pointer: the pointer moves in whole screen pixels, each 1/zoom image pixels.
    assert source.center().x() == pytest.approx(heatmap.mapToScene(at).x(), abs=0.5 + 0.5 / heatmap.zoom)
    assert source.center().x() == pytest.approx(512, abs=1 + 1 / heatmap.zoom)
    action(window, "L").trigger()
    assert not loupe.isVisible()


def test_measurements_stay_on_the_anatomy_when_turned(qtbot, window, tmp_path):
    opened(qtbot, window, write_dicom(tmp_path / "t.dcm", np.zeros((100, 200), np.uint8)))
    window.state.measurements = (Measurement("ruler", ((10, 10, 190, 90),)),)
    action(window, "Ctrl+Shift+R").trigger()
    view = window.views["heatmap"]
    line = next(item for item in window.tools.measure._items["heatmap"] if hasattr(item, "line"))
    assert (line.line().x1(), line.line().y1()) == (10, 10)  # scene = the file's pixels, whatever the turn
    start = view.mapFromScene(QPointF(10, 10))
    assert start.y() > view.mapFromScene(QPointF(190, 10)).y()  # counter-clockwise: the file's right is now up
