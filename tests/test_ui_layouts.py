"""Issue 16 part 3: layouts that give the image the room (View → Layout, Alt+1..5), remembered per user."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import write_dicom  # noqa: E402
from PySide6.QtCore import QRectF, QSettings  # noqa: E402

from viewer.ui.layouts import LAYOUTS  # noqa: E402
from viewer.ui.main_window import MainWindow  # noqa: E402
from viewer.ui.settings import Settings  # noqa: E402


@pytest.fixture
def settings(tmp_path):
    return Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat))


def make_window(qtbot, settings):
    win = MainWindow(settings)
    win.headless = True
    qtbot.addWidget(win)
    win.resize(1600, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot, settings):
    win = make_window(qtbot, settings)
    yield win
    win.shutdown()


def shown(win) -> dict:
    """Each visible view's rectangle in the views' area."""
    return {name: view.geometry() for name, view in win.views.items() if view.isVisible()}


def image_area(view) -> float:
    width, height = view.image_size()
    rect = view.mapFromScene(QRectF(0, 0, width, height)).boundingRect()
    return rect.width() * rect.height()


def test_each_layout_places_the_panels_and_alt_keys_choose_them(qtbot, window, tmp_path):
    window.open_paths([write_dicom(tmp_path / "square.dcm", np.full((1000, 1000), 900, np.uint16),
                                   bits_stored=12)])
    qtbot.waitUntil(lambda: window.views["overlay"].has_image(), timeout=30_000)
    actions = {a.shortcuts()[0].toString(): a for _menu, a in window.menus.all_actions() if a.shortcuts()}
    areas = {}
    for key in LAYOUTS:
        actions[f"Alt+{key}"].trigger()
        qtbot.wait(30)
        assert window.layout_count == key and window.menus.layouts[key].isChecked()
        rects = shown(window)
        assert set(rects) == set(LAYOUTS[key].cells)
        areas[key] = image_area(window.views["overlay"])
        if key == 3:
            assert rects["original"].right() < rects["heatmap"].left() < rects["overlay"].left()
        if key == 4:  # a large overlay with the original over the heatmap beside it
            assert rects["overlay"].width() > 1.5 * rects["original"].width()
            assert rects["original"].bottom() < rects["heatmap"].top()
            assert rects["overlay"].right() < rects["original"].left()
        if key == 5:
            assert rects["original"].top() == rects["heatmap"].top() < rects["overlay"].top()
            assert rects["original"].left() == rects["overlay"].left()
    # A square film in three tall panels is a third of each; one panel or the large overlay gives it the room.
    assert areas[1] > 4 * areas[3] and areas[4] > 2 * areas[3], areas


def test_the_layout_is_remembered_and_an_unknown_one_is_the_default(qtbot, settings):
    first = make_window(qtbot, settings)
    first.set_layout(4)
    first.save_settings()  # what closing saves (headless windows leave the settings alone)
    first.close()
    second = make_window(qtbot, settings)
    assert second.layout_count == 4 and second.menus.layouts[4].isChecked()
    assert set(shown(second)) == {"overlay", "original", "heatmap"}
    assert second.views["overlay"].width() > 1.5 * second.views["original"].width()
    second.set_layout(9)  # from a newer or damaged settings file
    assert second.layout_count == 3
    second.shutdown()
    first.shutdown()


def test_layout_keys_are_alt_1_to_5_and_no_key_is_taken_twice(window):
    keys = [s.toString() for _menu, a in window.menus.all_actions() for s in a.shortcuts()]
    assert {f"Alt+{n}" for n in range(1, 6)} <= set(keys)
    assert len(keys) == len(set(keys))
