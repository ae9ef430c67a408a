"""Issue 16's bugs (pytest-qt, offscreen): the wheel over a closed combo box, the form that jumped with the method's
description, the Trust button after Esc, the method comparison fitted with legible titles, extensionless DICOM in
File → Open, the README's keys table generated from the menus, and the desktop entry's one main category."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import main_window, write_dicom  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QWheelEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QFileDialog, QListView  # noqa: E402

from viewer.assets import resource_path  # noqa: E402
from viewer.ui import desktop_entry  # noqa: E402
from viewer.ui.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
JOB_TIMEOUT_MS = 120_000  # the first job imports TensorFlow


@pytest.fixture
def settings(tmp_path):
    return Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, tmp_path, settings):
    with main_window(qtbot, tmp_path, settings=settings) as win:
        yield win


def wheel(widget, steps: int) -> bool:
    """A real wheel turn (120 per notch) over the middle of `widget`; whether anyone accepted it."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


# -- the wheel over a closed combo or spin box -------------------------------------------------------------------

def test_the_wheel_over_a_closed_combo_box_changes_nothing_and_runs_no_job(qtbot, window):
    panel = window.controls
    boxes = panel.findChildren(QComboBox) + panel.findChildren(QAbstractSpinBox)
    boxes += window.trust_panel.findChildren(QComboBox) + window.trust_panel.findChildren(QAbstractSpinBox)
    assert panel.method in boxes and len(boxes) >= 4  # method, target, layer, colour map
    panel.set_method("gradcam")  # in the middle of the list: the wheel could go either way
    jobs = window.model_thread.submitted
    for box in boxes:
        before = box.currentIndex() if isinstance(box, QComboBox) else box.text()
        for steps in (-1, 1, -3, 2):  # checked after each: a combo moves one item per event whatever the delta
            wheel(box, steps)
            QApplication.processEvents()
            assert (box.currentIndex() if isinstance(box, QComboBox) else box.text()) == before, box
    assert panel.method_key() == "gradcam" and window.model_thread.submitted == jobs
    # The keyboard still changes it, once the reader has put the focus there on purpose.
    panel.method.setFocus()
    QTest.keyClick(panel.method, Qt.Key.Key_Down)
    assert panel.method_key() != "gradcam"


def test_the_form_does_not_move_when_the_method_description_changes_length(qtbot, window):
    panel = window.controls
    for points in range(9, 17):  # the reader's font: at 14 pt the Method box jumped by a line, from 14 pt it clipped
        font = panel.font()
        font.setPointSize(points)
        panel.setFont(font)
        for _ in range(2):  # the new font's layout settles over two passes of the event loop
            QApplication.processEvents()
        rows, heights = set(), set()
        for index in range(panel.method.count()):
            panel.method.setCurrentIndex(index)
            QApplication.processEvents()
            rows.add((panel.method.mapTo(panel, QPoint(0, 0)).y(), panel.target.mapTo(panel, QPoint(0, 0)).y()))
            heights.add(panel.method_help.height())
            needed = panel.method_help.heightForWidth(panel.method_help.width())  # -1: no wrapping, elided instead
            assert needed <= panel.method_help.height(), (points, index, needed)  # nothing cut off
        assert len(rows) == 1 and len(heights) == 1, (points, rows, heights)


def test_a_description_too_long_for_its_lines_is_elided_and_whole_in_the_tooltip(qtbot):
    from viewer.ui.panel_widgets import ElidedLabel

    label = ElidedLabel(lines=2)
    qtbot.addWidget(label)
    label.resize(120, label.height())
    label.show()
    height = label.height()
    label.setText("Positive gradients weighted per pixel (alpha), better for several objects")
    lines = label.fitted()
    assert len(lines) == 2 and lines[-1].endswith("…") and label.toolTip() == label.text()
    assert all(label.fontMetrics().horizontalAdvance(line) <= 120 for line in lines)
    label.setText("Short")
    assert label.fitted() == ["Short"] and label.toolTip() == "" and label.height() == height


# -- the Trust button after Esc ---------------------------------------------------------------------------------

def test_cancelling_a_trust_check_with_esc_restores_the_button(qtbot, window):
    from viewer.assets import demo_studies
    from viewer.model import default_model_path

    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        window.load_model(default_model_path())
        window.open_paths(demo_studies()[:1])
    qtbot.waitUntil(lambda: not window.model_thread.busy() and not window.io_thread.busy(), timeout=JOB_TIMEOUT_MS)
    button = window.trust_panel.check
    normal = button.text()
    # The model thread is kept busy so the check is still queued when Esc arrives: the cancel always wins the race.
    release = threading.Event()
    window.model_thread.submit("hold", lambda _context: release.wait(30))
    window.trust.check()
    assert button.text() == "Checking…"
    with qtbot.waitSignal(window.model_thread.cancelled, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda _id, kind: kind == "trust"):
        window.activateWindow()
        QTest.keyClick(window, Qt.Key.Key_Escape)
        release.set()
    QApplication.processEvents()
    assert button.text() == normal == "Check this map"
    assert window.trust.report is None  # cancelled: no report


# -- Compare All Methods ------------------------------------------------------------------------------------------

def _method_panels(count: int = 12, side: int = 768) -> list[tuple[str, np.ndarray]]:
    panels = []
    for number in range(count):
        image = np.full((side, side, 3), 30 + 15 * number, np.uint8)
        image[side // 4: side // 2, side // 4: side // 2] = (250, 80, 40)
        panels.append((f"Method {number + 1}", image))
    return panels


def test_compare_all_methods_fits_every_tile_in_a_resizable_dialog_with_legible_titles(qtbot, tmp_path):
    from viewer.render import compose_grid
    from viewer.ui.comparison_dialog import ComparisonDialog

    panels = _method_panels()
    grid = compose_grid(panels, columns=4, header="chest.dcm · target Nodule · layer conv2")
    dialog = ComparisonDialog(grid, panels, str(tmp_path / "m.png"), header="chest.dcm · target Nodule")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.resize(900, 600)  # smaller than the 1:1 grid (about 3100 × 2300 px) in both directions
    QApplication.processEvents()
    view = dialog.view

    def on_screen(item) -> bool:
        return view.viewport().rect().contains(view.mapFromScene(item.sceneBoundingRect()).boundingRect())

    tiles = [item for item in dialog.scene.items() if item.type() == 7]  # QGraphicsPixmapItem
    assert len(tiles) == 12 and all(on_screen(tile) for tile in tiles)  # fitted: every method in sight
    small = view.scale_factor()
    assert small < 0.35
    # Each title is drawn in screen pixels: as tall as the UI's text however far the grid is shrunk.
    assert [label.text() for label in dialog.labels] == [title for title, _ in panels]
    text_height = view.fontMetrics().height()
    for label in dialog.labels:
        on_view = label.deviceTransform(view.viewportTransform()).mapRect(label.boundingRect())
        assert on_view.height() >= min(text_height, 12) - 1
    dialog.resize(1500, 1000)  # resizable: a larger dialog shows the grid larger, still whole
    QApplication.processEvents()
    fitted = view.scale_factor()
    assert fitted > small and all(on_screen(tile) for tile in tiles)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    QTest.keyClick(dialog, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)  # 1:1, then scroll to see the rest
    qtbot.waitUntil(lambda: view.scale_factor() == pytest.approx(1.0))  # a button's shortcut clicks after 100 ms
    assert view.horizontalScrollBar().maximum() > 0 and view.verticalScrollBar().maximum() > 0
    QTest.keyClick(dialog, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: view.scale_factor() == pytest.approx(fitted))
    assert all(on_screen(tile) for tile in tiles)
    saved = tmp_path / "methods.png"
    assert dialog.save(str(saved)) and saved.stat().st_size > 0  # the grid with its titles burned in


# -- File → Open shows extensionless DICOM ------------------------------------------------------------------------

def test_file_open_lists_dicom_files_without_an_extension_by_default(qtbot, window, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    write_dicom(folder / "IM000001", np.zeros((16, 16), np.uint16))  # as most modalities and PACS write them
    write_dicom(folder / "chest.dcm", np.zeros((16, 16), np.uint16))
    window.settings.set("file/last_dir", str(folder))
    seen: dict = {}

    def inspect() -> None:
        dialog = next((w for w in QApplication.topLevelWidgets() if isinstance(w, QFileDialog) and w.isVisible()),
                      None)
        if dialog is None:
            QTimer.singleShot(50, inspect)
            return
        view = dialog.findChild(QListView, "listView")
        names = {view.model().index(row, 0, view.rootIndex()).data()
                 for row in range(view.model().rowCount(view.rootIndex()))}
        if "chest.dcm" not in names and seen.setdefault("tries", 0) < 100:  # the folder is still being read
            seen["tries"] += 1
            QTimer.singleShot(50, inspect)
            return
        seen.update(names=names, filter=dialog.selectedNameFilter(), filters=dialog.nameFilters())
        dialog.reject()

    QTimer.singleShot(0, inspect)
    window.opening.open_files_dialog()  # the real File → Open call (Qt's own dialog: no native one offscreen)
    assert seen["names"] == {"IM000001", "chest.dcm"}, seen
    assert seen["filter"] == seen["filters"][0]  # what a reader sees without touching the filter
    named = [f for f in seen["filters"] if "*.dcm" in f]
    assert named and all(ext in named[0] for ext in ("*.dicom", "DICOMDIR", "*.png", "*.jpg", "*.tif"))


# -- the README's keys table ----------------------------------------------------------------------------------------

def test_the_readmes_keys_table_is_the_one_generated_from_the_menus(window):
    from viewer.ui import keys_table

    generated = keys_table.markdown(window.menus.all_actions())
    for key in ("`Alt+1`", "`Alt+2`", "`Alt+3`", "`M`", "`A`", "`Ctrl+T`", "`F11`", "`Shift+Del`"):  # were missing
        assert f"| {key} |" in generated or f", {key}" in generated or f"{key}, " in generated, key
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert keys_table.readme_table(readme) == generated, \
        "README.md's keys table is out of date: python scripts/keys_table.py --write README.md"
    # Writing it again changes nothing, and nothing but the table would ever change.
    assert keys_table.replace_readme_table(readme, generated) == readme


def test_the_keys_table_script_prints_the_same_table_every_run():
    runs = [subprocess.run([sys.executable, str(ROOT / "scripts" / "keys_table.py")], capture_output=True,
                           text=True, cwd=ROOT, timeout=120) for _ in range(2)]
    assert all(run.returncode == 0 for run in runs) and runs[0].stdout == runs[1].stdout
    assert runs[0].stdout.startswith("| menu | command | keys |\n|---|---|---|\n")


# -- the desktop entry ---------------------------------------------------------------------------------------------

MAIN_CATEGORIES = {"AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics", "Network",
                   "Office", "Science", "Settings", "System", "Utility"}  # freedesktop menu spec, appendix A


def test_the_desktop_entry_has_one_main_category_and_medical_software_under_science():
    entry = desktop_entry.entry_text("/opt/radcam/bin/radcam")
    categories = next(line for line in entry.splitlines() if line.startswith("Categories="))
    values = categories.removeprefix("Categories=").rstrip(";").split(";")
    assert [v for v in values if v in MAIN_CATEGORIES] == ["Science"]
    assert "MedicalSoftware" in values  # an Additional Category that requires Science or Education


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate is not installed (apt-get install desktop-file-utils)")
@pytest.mark.parametrize("which", ["shipped", "installed"])
def test_desktop_file_validate_has_nothing_to_say(which, tmp_path):
    path = resource_path("radcam.desktop")
    if which == "installed":  # what --install-desktop-entry writes: Exec and TryExec with an absolute path
        path = tmp_path / "radcam.desktop"
        path.write_text(desktop_entry.entry_text("/home/a reader/venv/bin/radcam"), encoding="utf-8")
    result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr
