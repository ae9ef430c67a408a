"""Reviewing in the viewer (pytest-qt, offscreen): verdict keys reach the session file on disk at once, Shift+Y,
notes (keys do not fire while typing), marks, J/K, the lock message, re-linking moved images, the reader's name
asked once, and the report from the File menu."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from viewer.app.review import Entry, ReviewSession, SessionModel  # noqa: E402
from viewer.app.review_file import SessionFile, read_session  # noqa: E402
from viewer.ui import session_controller  # noqa: E402
from viewer.ui.main_window import MainWindow  # noqa: E402
from viewer.ui.session_dialogs import READER_KEY, reader_name, relink_question  # noqa: E402
from viewer.ui.settings import Settings  # noqa: E402

LABELS = ("Effusion", "Nodule", "Mass")
SCORES = {"Effusion": 0.91, "Nodule": 0.62, "Mass": 0.08}  # the tab lists them in this order (best first)


def write_images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        pixels = np.full((96, 128), 40 + 50 * number, np.uint8)
        pixels[20:40, 30:60] = 250
        path = folder / f"chest_{number}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def make_session(images: list[Path]) -> ReviewSession:
    entries = [Entry(id=str(n + 1), path=str(p), kind="image", predictions=dict(SCORES)) for n, p in enumerate(images)]
    # No model file: the session's labels and thresholds are enough to review; nothing loads TensorFlow.
    return ReviewSession(entries, SessionModel("", "", "test model", LABELS, {"Nodule": 0.6}), reader="")


@pytest.fixture
def settings(tmp_path):
    store = Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat))
    store.set(READER_KEY, "Dr Reader")
    return store


@pytest.fixture
def window(qtbot, settings):
    win = MainWindow(settings)
    win.headless = True
    qtbot.addWidget(win)
    win.resize(1400, 800)
    win.show()
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication_active(win), timeout=5000)
    yield win
    win.sessions.shutdown()
    win.shutdown()


def QApplication_active(win) -> bool:  # noqa: N802 - reads as the Qt call it wraps
    from PySide6.QtWidgets import QApplication

    return QApplication.activeWindow() is win


@pytest.fixture
def session_file(tmp_path):
    path = tmp_path / "review.radcam-session"
    opened = SessionFile.create(path, make_session(write_images(tmp_path / "images", 3)), "Dr Reader")
    opened.release()
    return path


def opened(qtbot, window, path: Path) -> MainWindow:
    assert window.sessions.open_session(path)
    qtbot.waitUntil(lambda: window.state.image is not None and bool(window.review_panel.rows), timeout=10000)
    return window


def key(window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(window, key, modifier)


def findings(path: Path, entry_id: str) -> dict:
    return {label: found.verdict for label, found in read_session(path).entry(entry_id).findings.items()}


def test_verdict_keys_change_the_session_file_on_disk(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    assert window.review_state.current == "1"
    assert [row.label for row in window.review_panel.rows] == ["Effusion", "Nodule", "Mass"]
    assert window.review_panel.selected_label() == "Effusion"
    key(window, Qt.Key.Key_Y)
    assert findings(session_file, "1") == {"Effusion": "agree"}  # on disk when the key returns
    assert window.review_panel.selected_label() == "Nodule"  # the next finding is selected
    key(window, Qt.Key.Key_N)
    assert findings(session_file, "1") == {"Effusion": "agree", "Nodule": "disagree"}
    key(window, Qt.Key.Key_U)
    assert findings(session_file, "1") == {"Effusion": "agree", "Nodule": "disagree", "Mass": "uncertain"}
    saved = read_session(session_file).entry("1").findings["Nodule"]
    assert saved.reader == "Dr Reader" and saved.time
    assert window.review_panel.progress.text().startswith("1 of 3 reviewed")
    # Shift+Up goes back a finding; a second verdict replaces the first.
    key(window, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    assert window.review_panel.selected_label() == "Nodule"
    key(window, Qt.Key.Key_Y)
    assert findings(session_file, "1")["Nodule"] == "agree"


def test_shift_y_agrees_with_every_finding_left(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_N)
    key(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ShiftModifier)
    assert findings(session_file, "1") == {"Effusion": "disagree", "Nodule": "agree", "Mass": "agree"}
    assert read_session(session_file).progress() == (1, 3)


def test_note_is_saved_and_keys_do_not_fire_while_typing(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_E)
    note = window.review_panel.note
    assert note.hasFocus()
    QTest.keyClicks(note, "yes, bilateral")  # y, n, u... would be verdicts outside the field
    assert findings(session_file, "1") == {}
    QTest.keyClick(note, Qt.Key.Key_Return)
    assert not note.hasFocus()
    saved = read_session(session_file).entry("1").findings["Effusion"]
    assert saved.note == "yes, bilateral"
    key(window, Qt.Key.Key_Y)  # keys are the review's again
    assert findings(session_file, "1")["Effusion"] == "agree"
    assert read_session(session_file).entry("1").findings["Effusion"].note == "yes, bilateral"


def test_mark_a_box_and_a_point_on_a_panel_then_clear_it(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    view = window.views["overlay"]
    qtbot.waitUntil(view.has_image, timeout=5000)
    key(window, Qt.Key.Key_B)
    assert window.reviewing.marks.armed
    start, end = view.mapFromScene(30, 20), view.mapFromScene(60, 40)
    port = view.viewport()
    QTest.mousePress(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(port, end)
    QTest.mouseRelease(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    mark = read_session(session_file).entry("1").findings["Effusion"].mark
    assert mark is not None and mark.kind == "box"
    assert mark.x == pytest.approx(30, abs=1.5) and mark.w == pytest.approx(30, abs=2)
    assert mark.y == pytest.approx(20, abs=1.5) and mark.h == pytest.approx(20, abs=2)
    assert not window.reviewing.marks.armed
    # Drawn on every panel, not only the one it was drawn on.
    assert all(window.reviewing.marks._items[name] for name in window.views)
    key(window, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    key(window, Qt.Key.Key_B)
    point = view.mapFromScene(100, 70)
    QTest.mouseClick(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    mark = read_session(session_file).entry("1").findings["Nodule"].mark
    assert mark is not None and mark.kind == "point"
    assert (mark.x, mark.y) == (pytest.approx(100, abs=1.5), pytest.approx(70, abs=1.5))
    key(window, Qt.Key.Key_B, Qt.KeyboardModifier.ShiftModifier)
    assert read_session(session_file).entry("1").findings["Nodule"].mark is None


def test_j_and_k_move_between_unreviewed_images(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_J)
    assert window.review_state.current == "2"
    qtbot.waitUntil(lambda: window.state.image is not None and window.state.image.path.name == "chest_1.png",
                    timeout=10000)
    key(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ShiftModifier)  # image 2 reviewed
    key(window, Qt.Key.Key_K)
    assert window.review_state.current == "1"
    key(window, Qt.Key.Key_J)  # skips the reviewed image 2
    assert window.review_state.current == "3"
    key(window, Qt.Key.Key_J)  # none after: stays
    assert window.review_state.current == "3"
    assert read_session(session_file).entry("2").seconds >= 0.0


def test_reopening_resumes_at_the_first_unreviewed_image(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ShiftModifier)
    window.sessions.close_session()
    assert window.review_state.session is None
    assert not Path(str(session_file) + ".lock").exists()
    opened(qtbot, window, session_file)
    assert window.review_state.current == "2"


def test_a_session_another_reader_has_open_is_refused_with_a_message(qtbot, window, session_file):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from viewer.app.review_file import SessionFile; "
         f"SessionFile.open({str(session_file)!r}, 'Dr Other'); print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        shown = []
        window.sessions.show_locked = shown.append
        assert not window.sessions.open_session(session_file)
        assert window.review_state.session is None or window.review_state.file is None
        assert len(shown) == 1 and "\n" not in shown[0] and "Dr Other" in shown[0]
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_moved_images_are_relinked_from_the_folder_the_reader_chooses(qtbot, window, session_file, tmp_path,
                                                                     monkeypatch):
    moved = tmp_path / "elsewhere"
    shutil.move(str(tmp_path / "images"), moved)
    asked = []

    def choose(count):
        asked.append(relink_question(count))
        return moved

    window.sessions.choose_folder = choose
    threads = []
    real_find = session_controller.find_moved

    def find_moved(*args):  # the real search, noting the thread it runs on: never the UI's (seconds on 10,000 files)
        threads.append(threading.current_thread())
        return real_find(*args)

    monkeypatch.setattr(session_controller, "find_moved", find_moved)
    with qtbot.waitSignal(window.sessions.relinked, timeout=10000) as found:
        assert window.sessions.open_session(session_file)
    assert found.args == [3]
    qtbot.waitUntil(lambda: window.state.image is not None and window.state.image.path.parent == moved,
                    timeout=10000)
    assert asked == ["3 images are not where the session says: choose the folder they are in"]
    assert threads and threads[0] is not threading.main_thread()
    saved = read_session(session_file)
    assert all(Path(entry.path).parent == moved for entry in saved.entries)
    assert window.state.image.path.parent == moved


def test_the_readers_name_is_asked_once_and_remembered(tmp_path):
    store = Settings(QSettings(str(tmp_path / "names.ini"), QSettings.Format.IniFormat))
    asked = []

    def ask():
        asked.append(1)
        return "  Dr Chen "

    assert reader_name(store, ask) == "Dr Chen"
    assert reader_name(store, ask) == "Dr Chen"
    assert asked == [1]
    assert reader_name(Settings(QSettings(str(tmp_path / "other.ini"), QSettings.Format.IniFormat)),
                       lambda: None) is None  # cancelled: no session


def test_new_session_saves_the_open_worklist_for_the_reader(qtbot, window, tmp_path):
    images = write_images(tmp_path / "new", 2)
    window.open_paths([str(images[0].parent)])
    qtbot.waitUntil(lambda: window.review_state.session is not None and window.state.image is not None,
                    timeout=10000)
    path = tmp_path / "new.radcam-session"
    assert window.sessions.new_session(path)
    data = json.loads(path.read_text())
    assert data["reader"] == "Dr Reader" and len(data["entries"]) == 2
    assert window.review_state.file is not None


def test_export_report_writes_csv_from_the_file_menu(qtbot, window, session_file, tmp_path):
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_N)
    out = tmp_path / "report.csv"
    with qtbot.waitSignal(window.sessions.reportWritten, timeout=30000):
        window.sessions.export_report(out)
    text = out.read_text()
    assert "Effusion" in text and "disagree" in text


def test_seconds_on_the_image_are_counted_while_it_is_shown(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    qtbot.wait(300)
    key(window, Qt.Key.Key_J)  # leaving the image adds its visit's seconds (saved within a second, or on close)
    assert window.review_state.session.entry("1").seconds >= 0.25
    window.sessions.close_session()
    assert read_session(session_file).entry("1").seconds >= 0.25


def test_points_inside_the_image_make_marks_in_image_pixels():
    from PySide6.QtCore import QPointF

    from viewer.ui.review_marks import mark_from

    assert mark_from(QPointF(10, 10), QPointF(10.5, 11), (100, 80)).kind == "point"
    box = mark_from(QPointF(90, 70), QPointF(150, -5), (100, 80))  # dragged out of the image: clipped
    assert (box.x, box.y, box.w, box.h) == (90, 0, 10, 70)


def test_radcam_opens_a_session_given_on_the_command_line(qtbot, session_file, tmp_path, monkeypatch):
    from viewer.ui import app

    monkeypatch.setenv("RADCAM_SETTINGS", str(tmp_path / "cli.ini"))  # no reader remembered: --screenshot asks nobody
    _qapp, win, _args, start = app.create(["--new-instance", "--screenshot", str(tmp_path / "x.png"),
                                           str(session_file)])
    qtbot.addWidget(win)
    try:
        start()
        assert win.review_state.file is not None and win.review_state.current == "1"
        qtbot.waitUntil(lambda: win.state.image is not None, timeout=10000)
        assert win.state.image.path.name == "chest_0.png"
        assert win.side_tabs.currentWidget() is win.review_panel
    finally:
        win.sessions.shutdown()
        win.shutdown()


@pytest.mark.parametrize("suffix", [".html", ".pdf"])
def test_export_report_writes_html_and_pdf_by_the_extension(qtbot, window, session_file, tmp_path, suffix):
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_N)
    out = tmp_path / f"report{suffix}"
    with qtbot.waitSignal(window.sessions.reportWritten, timeout=60000):
        window.sessions.export_report(out)
    data = out.read_bytes()
    if suffix == ".pdf":
        assert data.startswith(b"%PDF") and len(data) > 1000
    else:
        assert b"disagree" in data and b"Effusion" in data and b"<html" in data.lower()


def test_a_report_name_without_a_known_extension_is_one_line(qtbot, window, session_file, tmp_path):
    opened(qtbot, window, session_file)
    with qtbot.waitSignal(window.errorReported) as said:
        assert window.sessions.export_report(tmp_path / "report.docx") is None
    assert ".csv, .html or .pdf" in said.args[0] and "\n" not in said.args[0]


def test_shift_keys_and_refreshes_do_not_disturb_a_note_being_typed(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_E)
    note = window.review_panel.note
    QTest.keyClicks(note, "Pleural")
    QTest.keyClick(note, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)  # next finding, outside the field
    QTest.keyClick(note, Qt.Key.Key_Y, Qt.KeyboardModifier.ShiftModifier)  # agree with all, outside the field
    window.review_state.set_predictions("1", {"Effusion": 0.95, "Nodule": 0.6, "Mass": 0.1}, None)  # a pre-scan
    assert window.review_panel.selected_label() == "Effusion"
    assert note.text() == "Pleuraly"  # (QTest types the key's text without Shift)
    QTest.keyClick(note, Qt.Key.Key_Escape)
    assert read_session(session_file).entry("1").findings["Effusion"].note == "Pleuraly"
    assert set(findings(session_file, "1")) == {"Effusion"}  # Shift+Y did not fire


def test_opening_a_session_loads_its_model_once_and_says_when_the_file_changed(qtbot, window, tmp_path):
    from viewer.app.review_file import file_sha256
    from viewer.model import default_model_path

    model = Path(default_model_path())
    images = write_images(tmp_path / "images", 2)
    paths = {}
    for name, digest in (("same", file_sha256(model)), ("changed", "0" * 64)):
        session = make_session(images)
        session.model = SessionModel(str(model), digest, "demo", ("nodule", "consolidation"), {})
        paths[name] = tmp_path / f"{name}.radcam-session"
        SessionFile.create(paths[name], session, "Dr Reader").release()
    assert window.sessions.open_session(paths["same"])
    assert window.state.model_loading  # none was loaded: the session's is
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=120_000)
    assert Path(window.state.model.path) == model
    window.sessions.close_session()
    with qtbot.waitSignal(window.errorReported) as said:
        assert window.sessions.open_session(paths["changed"])
    assert "is not the file this session was scored with" in said.args[0]
    assert not window.state.model_loading  # the same file is loaded already: not loaded again


def test_j_shows_the_prefetched_image_and_map_without_a_model_pass(qtbot, window, tmp_path):
    from viewer.app.review_file import file_sha256
    from viewer.model import default_model_path

    model = Path(default_model_path())
    session = make_session(write_images(tmp_path / "images", 3))
    session.model = SessionModel(str(model), file_sha256(model), "demo", ("nodule", "consolidation"), {})
    path = tmp_path / "demo.radcam-session"
    SessionFile.create(path, session, "Dr Reader").release()
    with qtbot.waitSignal(window.explanationShown, timeout=120_000):
        window.sessions.open_session(path)
    prefetcher = window.reviewing.prefetcher
    qtbot.waitUntil(lambda: prefetcher.explained is not None and not window.model_thread.busy(), timeout=60_000)
    assert prefetcher.explained.path.endswith("chest_1.png")
    ahead = prefetcher.explained
    assert list(window.session.prefetched) == [ahead]
    with qtbot.waitSignal(window.explanationShown, timeout=10_000):
        key(window, Qt.Key.Key_J)
    assert prefetcher.hits == 1  # the image came from the decode made ahead
    assert window.state.explanation.key == ahead  # and its map from the explanation made ahead (handed over once)
    assert ahead not in window.session.prefetched


def test_loading_a_model_forgets_the_map_prefetched_with_the_last_one(tmp_path):
    from viewer.app import ExplainKey
    from viewer.app.jobs import Quiet
    from viewer.app.session import ModelSession
    from viewer.model import default_model_path

    session = ModelSession()
    key = ExplainKey("image.png", 0, "gradcam", None, None, str(default_model_path()))
    session.prefetched = {key: object()}  # made by a model loaded before (the same path: maybe another file now)
    session.load(Path(default_model_path()), False, Quiet())
    assert session.prefetched == {}


def test_review_keys_are_listed_in_help_and_no_key_has_two_commands(window):
    listed = {(menu, action.text().replace("&", "")): [s.toString() for s in action.shortcuts()]
              for menu, action in window.menus.all_actions()}
    assert listed[("Review", "Agree")] == ["Y"] and listed[("Review", "Next Unreviewed Image")] == ["J"]
    assert listed[("File", "Open Session…")] == [] and ("File", "Export Report…") in listed
    keys = [key for shortcuts in listed.values() for key in shortcuts]
    assert sorted({key for key in keys if keys.count(key) > 1}) == []  # Qt fires neither of two equal shortcuts


def test_mark_mode_ends_when_another_image_comes(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_B)
    assert window.reviewing.marks.armed
    key(window, Qt.Key.Key_J)  # a box drawn now would land on the next image's finding
    assert not window.reviewing.marks.armed
    key(window, Qt.Key.Key_B)
    key(window, Qt.Key.Key_B)  # B again: cancelled
    assert not window.reviewing.marks.armed


def test_a_session_brings_its_method_and_overlay_threshold_and_a_new_one_records_the_viewers(
        qtbot, window, tmp_path):
    from viewer.app.review import SessionSettings

    session = make_session(write_images(tmp_path / "images", 2))
    session.settings = SessionSettings(method="gradcampp", threshold=0.25)
    path = tmp_path / "made.radcam-session"
    SessionFile.create(path, session, "Dr Lead").release()
    opened(qtbot, window, path)
    assert window.controls.method_key() == "gradcampp" and window.controls.threshold.value() == 25
    window.controls.set_method("layercam")
    assert window.sessions.new_session(tmp_path / "mine.radcam-session")
    saved = read_session(tmp_path / "mine.radcam-session").settings
    assert (saved.method, saved.threshold) == ("layercam", 0.25)


def test_a_verdict_in_an_unsaved_session_says_once_how_to_save_it(qtbot, window, tmp_path):
    from viewer.ui.review_controller import UNSAVED

    window.review_state.start(make_session(write_images(tmp_path / "images", 2)), None, "Dr Reader")
    qtbot.waitUntil(lambda: window.state.image is not None and bool(window.review_panel.rows), timeout=10000)
    key(window, Qt.Key.Key_Y)
    assert window.statusBar().currentMessage() == UNSAVED
    window.statusBar().clearMessage()
    key(window, Qt.Key.Key_Y)
    assert window.statusBar().currentMessage() == ""
    assert window.review_state.session.entry("1").findings["Nodule"].verdict == "agree"
