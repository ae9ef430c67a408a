"""The worklist (issue 15 part 1, and the viewer's side of the pre-scan, part 2): pytest-qt, offscreen."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import write_dicom  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QTableView  # noqa: E402

from viewer.app.review import Entry, FindingVerdict, ReviewSession, SessionModel  # noqa: E402
from viewer.model import default_model_path  # noqa: E402
from viewer.ui.main_window import MainWindow  # noqa: E402
from viewer.ui.settings import Settings  # noqa: E402
from viewer.ui.worklist_model import (  # noqa: E402
    COLUMNS,
    DATE,
    IMAGE,
    PATIENT,
    PATIENT_ID,
    REVIEWED,
    SCORE,
    VERDICT,
    VIEW,
    WorklistFilter,
    WorklistModel,
)

JOB_TIMEOUT_MS = 120_000  # the first model job imports TensorFlow


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "cache"))  # a cold pre-scan cache for every test
    win = MainWindow(Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat)))
    win.headless = True
    win.controls.auto_explain.setChecked(False)  # the pre-scan alone on the model thread
    qtbot.addWidget(win)
    win.resize(1500, 800)
    win.show()
    yield win
    win.shutdown()


def pngs(folder, count, size=64, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(folder / f"img_{i:04d}.png")
    return folder


def rows(win):
    return win.worklist_panel.rows


def cells(model, row):
    return [model.index(row, column).data() for column in range(len(COLUMNS))]


def opened(qtbot, win, *paths, count):
    win.open_paths([str(p) for p in paths])
    qtbot.waitUntil(lambda: win.worklist_panel.model.rowCount() == count, timeout=30_000)


def session_of(entries, labels=("a", "b")):
    return ReviewSession(entries, SessionModel("m.keras", "0" * 64, "m", labels, {"a": 0.5, "b": 0.8}))


def entry(number, **kw):
    return Entry(id=str(number), path=f"/data/img_{number:05d}.png", **kw)


# -- rows --------------------------------------------------------------------------------------------------------

def test_400_images_are_400_rows_and_the_worklist_is_the_default_tab(qtbot, window, tmp_path):
    opened(qtbot, window, pngs(tmp_path / "images", 400), count=400)
    assert rows(window).rowCount() == 400
    assert window.left_tabs.currentWidget() is window.worklist_panel
    assert window.left_tabs.tabText(1) == "Studies"
    names = {rows(window).index(row, IMAGE).data() for row in range(400)}
    assert names == {f"img_{i:04d}.png" for i in range(400)}
    assert window.review_state.session is not None and window.review_state.file is None  # ad hoc, unsaved
    assert window.worklist_panel.count.text() == "400 image(s)"


def test_a_two_frame_dicom_is_two_rows_and_the_study_tree_still_lists_the_hierarchy(qtbot, window, tmp_path):
    frames = np.arange(2 * 32 * 32, dtype=np.uint16).reshape(2, 32, 32)
    path = write_dicom(tmp_path / "two.dcm", frames, PatientName="Doe^Jane", PatientID="ID42", ViewPosition="PA",
                       Modality="CR")
    second = write_dicom(tmp_path / "one.dcm", frames[0], PatientName="Doe^Jane", PatientID="ID42",
                         StudyInstanceUID=__import__("pydicom").dcmread(path).StudyInstanceUID,
                         SeriesInstanceUID=__import__("pydicom").dcmread(path).SeriesInstanceUID, InstanceNumber=2)
    opened(qtbot, window, path, second, count=3)
    texts = [cells(rows(window), row) for row in range(3)]
    assert [t[IMAGE] for t in texts] == ["two.dcm", "two.dcm · frame 2", "one.dcm"]
    assert {t[PATIENT] for t in texts} == {"Doe Jane"} and {t[PATIENT_ID] for t in texts} == {"ID42"}
    assert texts[0][DATE] == "2024-01-01" and texts[0][VIEW] == "PA"
    qtbot.waitUntil(lambda: window.state.image is not None and window.state.image.path.name == "two.dcm",
                    timeout=10_000)
    window.worklist_panel.table.setFocus()
    QTest.keyClick(window.worklist_panel.table, Qt.Key.Key_PageDown)  # the next frame: the next row of the file
    qtbot.waitUntil(lambda: window.state.image.frame == 1, timeout=10_000)
    assert window.worklist_panel.current_id() == "2"
    tree = window.browser.tree  # study → series → 2 images, as before
    assert tree.topLevelItemCount() == 1 and tree.topLevelItem(0).childCount() == 1
    assert tree.topLevelItem(0).child(0).childCount() == 2


# -- sorting and filtering ---------------------------------------------------------------------------------------

def test_sort_by_score_is_numeric_highest_first_and_unscored_rows_go_last(qtbot):
    scores = [0.05, None, 0.9, 0.3, None, 0.75, 0.1]
    entries = [entry(i + 1, predictions=None if s is None else {"a": s, "b": s / 10}) for i, s in enumerate(scores)]
    model = WorklistModel()
    proxy = WorklistFilter(model)
    view = QTableView()
    view.setModel(proxy)
    view.setSortingEnabled(True)
    model.set_entries(entries)
    view.sortByColumn(SCORE, Qt.SortOrder.DescendingOrder)
    shown = [proxy.index(row, SCORE).data() for row in range(proxy.rowCount())]
    assert shown == ["0.90", "0.75", "0.30", "0.10", "0.05", "", ""]
    view.sortByColumn(SCORE, Qt.SortOrder.AscendingOrder)
    assert [proxy.index(row, SCORE).data() for row in range(proxy.rowCount())] == \
        ["0.05", "0.10", "0.30", "0.75", "0.90", "", ""]
    view.sortByColumn(IMAGE, Qt.SortOrder.AscendingOrder)  # back to names: 1..7
    assert [proxy.index(row, IMAGE).data() for row in range(7)] == [f"img_{i:05d}.png" for i in range(1, 8)]


def test_each_filter_and_the_text_filter(qtbot):
    agree, disagree = FindingVerdict("agree"), FindingVerdict("disagree")
    entries = [
        entry(1, predictions={"a": 0.9, "b": 0.1}, findings={"a": agree, "b": agree}, patient_name="Ann"),  # reviewed
        entry(2, predictions={"a": 0.2, "b": 0.85}, findings={"a": disagree}, patient_name="Bob"),  # above b's 0.8
        entry(3, predictions={"a": 0.4, "b": 0.7}, patient_name="Cid"),  # below both thresholds
        entry(4, patient_name="Dee"),  # not scored yet
    ]
    model = WorklistModel()
    proxy = WorklistFilter(model)
    model.set_entries(entries)
    model.set_labels(["a", "b"], session_of([]).model.threshold)

    def ids():
        return [proxy.entry_id(row) for row in range(proxy.rowCount())]

    assert ids() == ["1", "2", "3", "4"]
    proxy.set_mode("unreviewed")
    assert ids() == ["2", "3", "4"]
    proxy.set_mode("positive")
    assert ids() == ["1", "2"]
    proxy.set_mode("disagreements")
    assert ids() == ["2"]
    assert proxy.index(0, VERDICT).data() == "disagree 1 (1/2)"
    proxy.set_mode("all")
    proxy.set_text("  cID ")
    assert ids() == ["3"]
    proxy.set_keep("1")  # the row on screen stays listed whatever the filter
    assert ids() == ["1", "3"]
    with pytest.raises(ValueError):
        proxy.set_mode("nonsense")


def test_anonymise_hides_names_ids_dates_and_file_names_in_every_cell(qtbot, window, tmp_path):
    paths = [write_dicom(tmp_path / f"Smith_{i}.dcm", np.full((16, 16), i * 40, np.uint16),
                         PatientName=f"Smith^John{i}", PatientID=f"MRN{i:04d}", StudyDate=f"2023010{i + 1}")
             for i in range(3)]
    opened(qtbot, window, *paths, count=3)
    model = rows(window)

    def everything():
        return "\n".join(str(model.index(r, c).data(role) or "") for r in range(3) for c in range(len(COLUMNS))
                         for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole))

    before = everything()
    assert "Smith John0" in before and "MRN0001" in before and "2023-01-02" in before and "Smith_2.dcm" in before
    window.menus.anonymous.trigger()
    after = everything()
    for secret in ("Smith", "John", "MRN", "2023", "0101", "0102", ".dcm", str(tmp_path)):
        assert secret not in after, secret
    assert [model.index(r, PATIENT).data() for r in range(3)] == ["patient_1", "patient_2", "patient_3"]  # as the
    assert [model.index(r, IMAGE).data() for r in range(3)] == ["radcam_001", "radcam_002", "radcam_003"]  # report
    window.menus.anonymous.trigger()
    assert everything() == before


def open_worklist(entries):
    """The worklist table as the viewer builds it: model, filter, view, sorted by score (triage), on screen."""
    model = WorklistModel()
    proxy = WorklistFilter(model)
    view = QTableView()
    view.setModel(proxy)
    view.verticalHeader().setDefaultSectionSize(22)
    view.setSortingEnabled(True)
    model.set_entries(entries)
    view.sortByColumn(SCORE, Qt.SortOrder.DescendingOrder)
    view.resize(900, 700)
    view.show()
    QApplication.processEvents()
    return view, proxy


def test_10000_entries_open_in_under_a_second(qtbot):
    rng = np.random.default_rng(1)
    entries = [entry(i + 1, patient_name=f"Patient {i % 500}", patient_id=f"P{i % 500}", study_date="20240102",
                     modality="CR", view="PA", predictions={"a": float(rng.random()), "b": float(rng.random())})
               for i in range(10_000)]
    times = []
    for _ in range(3):  # the best of three: the machine's speed, not a neighbour's load (about 0.3 s here)
        started = time.perf_counter()
        view, proxy = open_worklist(entries)
        times.append(time.perf_counter() - started)
    assert proxy.rowCount() == 10_000
    assert min(times) < 1.0, f"{min(times) * 1000:.0f} ms"
    assert proxy.index(0, SCORE).data() == f"{max(max(e.predictions.values()) for e in entries):.2f}"
    bar = view.verticalScrollBar()
    started = time.perf_counter()  # scrolling: a page of rows drawn, from the top to the end
    for value in range(0, bar.maximum() + 1, bar.maximum() // 20):
        bar.setValue(value)
        view.viewport().repaint()
    assert (time.perf_counter() - started) / 21 < 0.05  # under 50 ms a page


def test_the_bench_figure_opens_10000_rows_in_a_fresh_process():
    from viewer.bench import GOALS
    from viewer.bench.worklist import worklist_figures

    figures, runs, notes = worklist_figures(repeat=2)
    assert runs == {"worklist_open_10000_ms": 2} and "10,000" in notes["worklist_open_10000_ms"]
    assert 0 < figures["worklist_open_10000_ms"] < 3 * GOALS["worklist_open_10000_ms"][1]  # ≤ 1 s on a quiet machine


# -- selection -----------------------------------------------------------------------------------------------------

def test_a_picked_row_shows_its_image_and_review_steps_select_the_row(qtbot, window, tmp_path):
    opened(qtbot, window, pngs(tmp_path / "images", 5), count=5)
    panel = window.worklist_panel
    qtbot.waitUntil(lambda: window.state.image is not None, timeout=10_000)
    index = rows(window).index(3, IMAGE)
    panel.table.scrollTo(index)
    QTest.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=panel.table.visualRect(index).center())
    qtbot.waitUntil(lambda: window.state.image is not None and window.state.image.path.name == "img_0003.png",
                    timeout=10_000)
    assert window.review_state.current == "4"
    window.review_state.step(1, unreviewed=False)  # J/K move `current`: the row and the image follow
    qtbot.waitUntil(lambda: window.state.image.path.name == "img_0004.png", timeout=10_000)
    assert panel.current_id() == "5"
    window.browser.select(window.browser.instances()[1])  # the study tree picks: the row follows
    qtbot.waitUntil(lambda: panel.current_id() == "2", timeout=10_000)


def test_alt_down_follows_the_sorted_worklist_and_verdicts_redraw_their_row(qtbot, window, tmp_path):
    opened(qtbot, window, pngs(tmp_path / "images", 4), count=4)
    panel = window.worklist_panel
    panel.sort_by(IMAGE, Qt.SortOrder.DescendingOrder)
    panel.select_entry("4")
    window.review_state.current = "4"
    QTest.keyClick(window, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: window.state.image is not None and window.state.image.path.name == "img_0002.png",
                    timeout=10_000)
    session = window.review_state.session
    session.model = SessionModel("m.keras", "", "m", ("a",), {})
    window.worklist._labels()
    window.review_state.record("a", "disagree")
    row = rows(window).row_of("3")
    assert rows(window).index(row, VERDICT).data() == "disagree 1"
    assert rows(window).index(row, REVIEWED).data() == "✓"


def test_ctrl_f_filters_by_typing_without_firing_the_review_keys(qtbot, window, tmp_path):
    opened(qtbot, window, pngs(tmp_path / "images", 12), count=12)
    window.left_tabs.setCurrentWidget(window.browser)
    qtbot.waitUntil(lambda: window.review_state.current is not None, timeout=10_000)
    current = window.review_state.current
    QTest.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.left_tabs.currentWidget() is window.worklist_panel
    assert QApplication.focusWidget() is window.worklist_panel.search
    QTest.keyClicks(window.worklist_panel.search, "jkyn")  # review keys elsewhere: letters here
    assert window.worklist_panel.search.text() == "jkyn" and window.review_state.current == current
    window.worklist_panel.search.clear()
    QTest.keyClicks(window.worklist_panel.search, "0011")
    qtbot.waitUntil(lambda: rows(window).rowCount() == 2, timeout=5_000)  # the match and the row on screen
    QTest.keyClick(window.worklist_panel.search, Qt.Key.Key_Return)
    assert QApplication.focusWidget() is window.worklist_panel.table


# -- the pre-scan --------------------------------------------------------------------------------------------------

def test_the_prescan_fills_scores_with_the_demo_model_and_a_bad_image_fails_alone(qtbot, window, tmp_path):
    folder = pngs(tmp_path / "images", 24, size=128)
    good = (folder / "img_0000.png").read_bytes()
    (folder / "zz_broken.png").write_bytes(good[:len(good) // 3])
    window.open_paths([str(folder)])
    qtbot.waitUntil(lambda: window.worklist_panel.model.rowCount() >= 24, timeout=30_000)
    window.worklist_panel.triage()  # sorted by score before there are scores: the scan's end sorts again
    window.load_model(default_model_path())
    model = window.worklist_panel.model
    qtbot.waitUntil(lambda: window.worklist.scan_total and not window.worklist.scanning(), timeout=JOB_TIMEOUT_MS)
    session = window.review_state.session
    assert session.model is not None and len(session.model.sha256) == 64  # the digest the model thread read
    scored = [e for e in session.entries if e.predictions]
    assert len(scored) == 24
    assert all(0.0 <= s <= 1.0 for e in scored for s in e.predictions.values())
    for row in range(model.rowCount()):
        text = model.index(row, SCORE).data()
        if model.entry(row).path.endswith("zz_broken.png"):
            assert text == "failed" and "zz_broken.png" in model.index(row, SCORE).data(Qt.ItemDataRole.ToolTipRole)
        else:
            assert float(text) == pytest.approx(model.entry(row).top_finding()[1], abs=0.005)
    assert "24 scored, 1 failed" in window.worklist_panel.scan_label.text()
    shown = [rows(window).index(row, SCORE).data() for row in range(rows(window).rowCount())]
    assert shown[:-1] == sorted(shown[:-1], key=float, reverse=True) and shown[-1] == "failed"
    window.menus.anonymous.trigger()  # the reason names the file: not under Anonymise Display
    row = next(r for r in range(model.rowCount()) if model.entry(r).path.endswith("zz_broken.png"))
    assert "zz_broken" not in model.index(row, SCORE).data(Qt.ItemDataRole.ToolTipRole)


def test_a_cache_that_cannot_be_written_is_said_and_the_scan_goes_on(qtbot, window, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(blocker))
    opened(qtbot, window, pngs(tmp_path / "images", 6), count=6)
    window.load_model(default_model_path())
    qtbot.waitUntil(lambda: window.worklist.scan_total and not window.worklist.scanning(), timeout=JOB_TIMEOUT_MS)
    label = window.worklist_panel.scan_label
    assert label.text() == "Pre-scan: 6 scored (not cached: see the tooltip)"
    assert "not-a-folder" in label.toolTip()


def test_esc_cancels_the_prescan_within_a_second(qtbot, window, tmp_path):
    window.load_model(default_model_path())
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=JOB_TIMEOUT_MS)
    opened(qtbot, window, pngs(tmp_path / "images", 400, size=256), count=400)
    worklist = window.worklist
    qtbot.waitUntil(lambda: worklist.scan_done >= 16, timeout=JOB_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.jobs.progress_job is None, timeout=JOB_TIMEOUT_MS)  # Esc is the scan's now
    started = time.perf_counter()
    QTest.keyClick(window, Qt.Key.Key_Escape)
    assert not worklist.scanning()
    qtbot.waitUntil(lambda: not window.model_thread.busy(), timeout=5_000)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed * 1000:.0f} ms"
    QTest.qWait(200)
    print(f"esc → model thread idle: {elapsed * 1000:.0f} ms, {worklist.scan_done} scored")
    done = sum(e.predictions is not None for e in window.review_state.session.entries)
    assert 16 <= done < 400 and done == worklist.scan_done
    assert window.worklist_panel.scan_label.text().startswith("Pre-scan cancelled")


def test_another_model_stops_the_scan_and_an_unsaved_session_is_scored_again_with_it(qtbot, window, tmp_path):
    import shutil

    other = tmp_path / "other" / "copy.keras"  # the same weights under another name: another model to the session
    other.parent.mkdir()
    shutil.copy(default_model_path(), other)
    shutil.copy(str(default_model_path()) + ".json", str(other) + ".json")
    window.load_model(default_model_path())
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=JOB_TIMEOUT_MS)
    opened(qtbot, window, pngs(tmp_path / "images", 200, size=256), count=200)
    worklist = window.worklist
    qtbot.waitUntil(lambda: worklist.scan_done >= 16, timeout=JOB_TIMEOUT_MS)
    scored_then = []  # connected after the worklist: what it left when the model changed
    window.state.connect("model", lambda _info: scored_then.append(
        sum(e.predictions is not None for e in window.review_state.session.entries)))
    window.load_model(other)  # runs after the chunk in flight; no chunk starts while it loads
    assert window.state.model_loading
    qtbot.waitUntil(lambda: not worklist.scanning(), timeout=JOB_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.state.model is not None and window.state.model.path == other,
                    timeout=JOB_TIMEOUT_MS)
    session = window.review_state.session
    assert session.model.path == str(other)
    assert scored_then == [0]  # the old model's scores went; all are scored again
    qtbot.waitUntil(lambda: not worklist.scanning(), timeout=JOB_TIMEOUT_MS)
    assert all(entry.predictions for entry in session.entries) and worklist.scan_done == 200


def test_the_rows_on_screen_are_scored_first(qtbot, window, tmp_path):
    opened(qtbot, window, pngs(tmp_path / "images", 200, size=96), count=200)
    panel = window.worklist_panel
    panel.table.scrollToBottom()
    QApplication.processEvents()
    visible = panel.visible_ids()
    assert visible and "200" in visible and "1" not in visible
    order = []  # entries as their scores arrive (the image on screen may get its own from its explanation)
    session = window.review_state.session

    def scored(entry_id):
        if entry_id not in order and entry_id != window.review_state.current and session.entry(entry_id).predictions:
            order.append(entry_id)

    window.review_state.changed.connect(scored)
    window.load_model(default_model_path())
    qtbot.waitUntil(lambda: len(order) >= len(visible), timeout=JOB_TIMEOUT_MS)
    assert set(order[:len(visible)]) == set(visible)


def test_an_explain_waits_for_one_chunk_of_the_scan_not_the_whole_scan(qtbot, window, tmp_path):
    window.load_model(default_model_path())
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=JOB_TIMEOUT_MS)
    opened(qtbot, window, pngs(tmp_path / "images", 400, size=256), count=400)
    worklist = window.worklist
    qtbot.waitUntil(lambda: worklist.scan_done >= 16 and window.state.image is not None, timeout=JOB_TIMEOUT_MS)
    started = time.perf_counter()
    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        window.explaining.request(force=True)
    waited = time.perf_counter() - started
    print(f"\nExplain during the pre-scan: {waited * 1000:.0f} ms, chunk of {worklist.chunk_size} images")
    assert worklist.scanning() and worklist.scan_done < 400  # shown between two chunks
    worklist.cancel_scan()
