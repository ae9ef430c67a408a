"""Reviewing in the viewer, what a reader meets on real use (pytest-qt, offscreen): each image starts at its first
finding without a verdict, J/K follow the sorted and filtered worklist, no verdict lands on an image that is not on
screen, the report is written off the UI thread, the verdict column fits the side panel, unsaved verdicts are not
dropped without asking, and another model's scores stay out of the session."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import test_ui_review as base  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from test_ui_review import findings, key, make_session, opened, write_images  # noqa: E402

from viewer.app.review_file import SessionFile, read_session  # noqa: E402

settings, window, session_file = base.settings, base.window, base.session_file  # the same fixtures


def test_the_next_image_starts_at_its_first_finding_so_y_then_n_are_two_verdicts(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    for pressed in (Qt.Key.Key_Y, Qt.Key.Key_N, Qt.Key.Key_U):
        key(window, pressed)
    assert window.review_panel.selected_label() == "Mass"  # the last row, where image 1's keys ended
    key(window, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: window.review_state.current == "2" and window.state.image.path.name == "chest_1.png",
                    timeout=10000)
    # Image 2 starts at its first finding; before, the selection stayed on Mass (the last row) and N replaced Y.
    assert window.review_panel.selected_label() == "Effusion"
    key(window, Qt.Key.Key_Y)
    key(window, Qt.Key.Key_N)
    assert findings(session_file, "2") == {"Effusion": "agree", "Nodule": "disagree"}


def test_scores_that_reorder_the_findings_select_the_first_without_a_verdict(qtbot, window, tmp_path):
    images = write_images(tmp_path / "images", 1)
    session = make_session(images)
    session.entries[0].predictions = None  # not scored yet: the tab lists the labels in the model's order
    path = tmp_path / "unscored.radcam-session"
    SessionFile.create(path, session, "Dr Reader").release()
    assert window.sessions.open_session(path)
    qtbot.waitUntil(lambda: window.state.image is not None and bool(window.review_panel.rows), timeout=10000)
    key(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ShiftModifier)  # no scores, no decision seen: nothing to agree on
    key(window, Qt.Key.Key_Y)
    assert findings(path, "1") == {}
    assert window.statusBar().currentMessage().startswith("The model's scores for this image are not in yet")
    window.review_state.set_predictions("1", {"Effusion": 0.08, "Nodule": 0.62, "Mass": 0.91}, None)
    qtbot.waitUntil(lambda: window.review_panel.rows[0].label == "Mass")
    assert window.review_panel.selected_label() == "Mass"  # not Effusion, now the last row
    key(window, Qt.Key.Key_Y)
    key(window, Qt.Key.Key_N)
    assert findings(path, "1") == {"Mass": "agree", "Nodule": "disagree"}


def test_j_and_k_follow_the_worklist_sorted_by_score_and_the_prefetch_does_too(qtbot, window, tmp_path):
    session = make_session(write_images(tmp_path / "images", 4))
    for entry, top in zip(session.entries, (0.30, 0.95, 0.10, 0.70), strict=True):
        entry.predictions = {"Effusion": top, "Nodule": 0.05, "Mass": 0.01}
    path = tmp_path / "triage.radcam-session"
    SessionFile.create(path, session, "Dr Reader").release()
    opened(qtbot, window, path)
    window.worklist_panel.triage()  # 2 (0.95), 4 (0.70), 1 (0.30), 3 (0.10)
    window.review_state.current = "2"
    assert window.reviewing.upcoming(1).id == "4"  # what the prefetch decodes ahead
    key(window, Qt.Key.Key_J)
    assert window.review_state.current == "4"  # the next row down, not entry 3 (the session's file order)
    qtbot.waitUntil(lambda: window.state.image.path.name == "chest_3.png", timeout=10000)
    key(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ShiftModifier)
    key(window, Qt.Key.Key_J)
    assert window.review_state.current == "1"
    key(window, Qt.Key.Key_K)  # 4 is reviewed: back to 2
    assert window.review_state.current == "2"
    window.worklist_panel.set_filter("positive")  # above threshold: 2 and 4 (reviewed) only
    key(window, Qt.Key.Key_J)
    assert window.review_state.current == "2"  # 1 is unreviewed but not in the list the reader asked for


def test_no_verdict_lands_on_an_image_that_is_not_on_screen(qtbot, window, session_file):
    (session_file.parent / "images" / "chest_1.png").unlink()  # entry 2's image is gone
    window.sessions.choose_folder = lambda _count: None  # the reader does not re-link it
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_J)
    assert window.review_state.current == "2"
    qtbot.waitUntil(lambda: "no such file" in window.banner.message(), timeout=10000)
    assert window.state.image.path.name == "chest_0.png"  # image 1 stays on screen: it is not entry 2's
    key(window, Qt.Key.Key_Y)
    key(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ShiftModifier)
    window.review_panel.buttons["agree"].click()
    assert findings(session_file, "2") == {}  # before, image 2 got verdicts given while looking at image 1
    assert window.statusBar().currentMessage().startswith("This image is not on screen")
    key(window, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: window.state.image.path.name == "chest_2.png", timeout=10000)
    key(window, Qt.Key.Key_Y)
    assert findings(session_file, "3") == {"Effusion": "agree"}


def test_the_pdf_is_drawn_off_the_ui_thread_and_a_write_failure_is_one_line(qtbot, window, session_file, tmp_path,
                                                                             monkeypatch):
    import threading

    from viewer.ui import report_pdf

    drawn_on = []
    real = report_pdf.write_pdf

    def spy(html, path, overwrite=True):  # the real writer, noting its thread (hundreds of thumbnails: seconds)
        drawn_on.append(threading.current_thread())
        return real(html, path, overwrite)

    monkeypatch.setattr(report_pdf, "write_pdf", spy)
    opened(qtbot, window, session_file)
    out = tmp_path / "report.pdf"
    with qtbot.waitSignal(window.sessions.reportWritten, timeout=60000):
        window.sessions.export_report(out)
    assert out.read_bytes().startswith(b"%PDF")
    assert drawn_on and drawn_on[0] is not threading.main_thread()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "report.csv").mkdir()  # a folder where the file should go
    with qtbot.waitSignal(window.errorReported, timeout=60000) as said:
        window.sessions.export_report(tmp_path / "taken" / "report.csv")
    assert "\n" not in said.args[0] and "internal error" not in said.args[0]


def test_the_verdict_column_stays_in_the_narrow_side_panel_with_a_long_label(qtbot):
    from viewer.ui.review_panel import FindingRow, ReviewPanel

    panel = ReviewPanel()
    qtbot.addWidget(panel)
    panel.resize(300, 500)  # the side panel's width beside three views
    panel.show()
    panel.set_findings([FindingRow("Pleural_Thickening_and_Consolidation", 0.9, 0.5, "uncertain", "a note", "box"),
                        FindingRow("Nodule", 0.2, 0.5, None, "", "")])
    header, viewport = panel.table.horizontalHeader(), panel.table.viewport()
    for column in (3, 4):  # the verdict and the mark/note signs: before, past the edge behind a scroll bar
        assert header.sectionViewportPosition(column) + header.sectionSize(column) <= viewport.width()
    assert header.sectionSize(3) >= panel.table.fontMetrics().horizontalAdvance("uncertain")
    assert panel.table.item(0, 0).toolTip() == "Pleural_Thickening_and_Consolidation"  # elided on screen


def test_closing_the_window_asks_before_verdicts_in_an_unsaved_session_are_lost(qtbot, window, tmp_path,
                                                                                 monkeypatch):
    from viewer.ui import session_dialogs

    window.review_state.start(make_session(write_images(tmp_path / "images", 2)), None, "Dr Reader")
    qtbot.waitUntil(lambda: window.state.image is not None and bool(window.review_panel.rows), timeout=10000)
    key(window, Qt.Key.Key_Y)
    window.headless = False  # a reader at the window: asked
    asked, answers = [], ["cancel", "save"]
    window.sessions.ask_unsaved = lambda count: asked.append(count) or answers.pop(0)
    path = tmp_path / "kept.radcam-session"
    monkeypatch.setattr(session_dialogs, "session_path", lambda *_args, **_kw: path)  # the file dialog's answer
    window.close()
    assert asked == [1] and window.isVisible()  # cancelled: the window stays, verdicts in memory
    window.close()  # saved, then closed; before, the window closed and the verdicts were gone
    assert not window.isVisible()
    assert findings(path, "1") == {"Effusion": "agree"}


def test_opening_another_session_asks_before_an_unsaved_sessions_verdicts_go(qtbot, window, session_file,
                                                                             tmp_path):
    window.review_state.start(make_session(write_images(tmp_path / "other", 2)), None, "Dr Reader")
    qtbot.waitUntil(lambda: window.state.image is not None and bool(window.review_panel.rows), timeout=10000)
    key(window, Qt.Key.Key_Y)
    window.headless = False
    window.sessions.ask_unsaved = lambda _count: None  # the reader cancels
    assert not window.sessions.open_session(session_file)
    assert window.review_state.file is None and window.review_state.session.entry("1").findings
    window.sessions.ask_unsaved = lambda _count: "discard"
    assert window.sessions.open_session(session_file)
    assert window.review_state.file is not None


def test_another_models_map_does_not_write_its_scores_into_the_session(qtbot, window, tmp_path):
    from viewer.assets import resource_path

    session = make_session(write_images(tmp_path / "images", 2))
    session.entries[0].predictions = None  # the pre-scan has not reached it
    path = tmp_path / "other-model.radcam-session"
    SessionFile.create(path, session, "Dr Reader").release()
    window.load_model(resource_path("models", "demo_phantom_cnn.keras"))  # not the session's model
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=120000)
    with qtbot.waitSignal(window.explanationShown, timeout=120000):
        opened(qtbot, window, path)
    window.review_state.flush(force=True)
    # Before, the demo model's nodule/consolidation scores became this session's record for image 1.
    assert window.review_state.entry().predictions is None
    assert read_session(path).entry("1").predictions is None


def test_a_note_being_typed_stays_on_its_image_when_alt_down_moves_on(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    window.left_tabs.setCurrentWidget(window.worklist_panel)
    key(window, Qt.Key.Key_E)
    field = window.review_panel.note
    assert field.hasFocus()
    QTest.keyClicks(field, "rib fracture?")
    QTest.keyClick(field, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)  # the next image, mid-sentence
    qtbot.waitUntil(lambda: window.review_state.current == "2")
    saved = read_session(session_file)
    # Before, the text stayed in the field and Enter saved it on image 2 (or another label's row dropped it).
    assert saved.entry("1").findings["Effusion"].note == "rib fracture?"
    assert "Effusion" not in saved.entry("2").findings
    assert field.text() == ""


def test_a_note_being_typed_is_saved_when_the_session_closes(qtbot, window, session_file):
    opened(qtbot, window, session_file)
    key(window, Qt.Key.Key_E)
    QTest.keyClicks(window.review_panel.note, "old granuloma")
    window.sessions.close_session()  # File → Close Session, or the window closing, mid-sentence
    assert read_session(session_file).entry("1").findings["Effusion"].note == "old granuloma"
