"""The desktop window's acceptance tests (pytest-qt, offscreen): panels, live overlay, jobs, export, startup."""

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import FIXTURES, needs_fixtures  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer  # noqa: E402

from viewer.ui.export_dialog import ExportOptions  # noqa: E402
from viewer.ui.main_window import MainWindow  # noqa: E402
from viewer.ui.settings import Settings  # noqa: E402

MODEL = FIXTURES / "models" / "am1codes_pneumonia_150.h5"
CHEST = FIXTURES / "dicom" / "dx_chest_nih_uncompressed.dcm"
CHEST_PNG = FIXTURES / "images" / "nih_00000001_000_cardiomegaly.png"
JOB_TIMEOUT_MS = 120_000  # the first job imports TensorFlow


def pixels(view) -> np.ndarray:
    image = view.qimage().convertToFormat(view.qimage().Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : image.width() * 3].copy()


@pytest.fixture
def settings(tmp_path):
    return Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, settings):
    win = MainWindow(settings)
    win.headless = True  # no question boxes in tests
    qtbot.addWidget(win)
    win.resize(1400, 800)
    win.show()
    yield win
    win.shutdown()


def explained(qtbot, win, *paths, model=MODEL):
    """Open `paths` with the fixture model and wait until their explanation is on screen."""
    with qtbot.waitSignal(win.explanationShown, timeout=JOB_TIMEOUT_MS):
        if win.state.model is None:
            win.load_model(model)
        win.open_paths(list(paths))
    return win


def stall_probe():
    """A 10 ms timer on the UI thread recording the gap between its ticks: a long gap is a frozen window."""
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    return gaps, last, timer


def wait_idle(qtbot, win):
    qtbot.waitUntil(lambda: not win.model_thread.busy() and not win.io_thread.busy(), timeout=JOB_TIMEOUT_MS)


@needs_fixtures
def test_opening_a_file_shows_original_heatmap_and_overlay(qtbot, window):
    explained(qtbot, window, CHEST)
    original, heat, over = (pixels(window.views[name]) for name in ("original", "heatmap", "overlay"))
    assert original.shape == heat.shape == over.shape == (1024, 1024 * 3)
    assert not np.array_equal(original, heat)
    assert not np.array_equal(original, over)
    assert window.controls.table.rowCount() >= 1
    assert window.state.explanation.result.cam.shape == (1024, 1024)
    assert "Device" in window.jobs.device_label.text()


@needs_fixtures
def test_threshold_and_opacity_redraw_the_overlay_without_a_model_job(qtbot, window):
    explained(qtbot, window, CHEST)
    wait_idle(qtbot, window)
    jobs = window.model_thread.submitted
    before = pixels(window.views["overlay"])
    window.controls.threshold.setValue(5)
    after_threshold = pixels(window.views["overlay"])
    window.controls.opacity.setValue(95)
    after_opacity = pixels(window.views["overlay"])
    window.controls.contour.toggle()
    assert not np.array_equal(before, after_threshold)
    assert not np.array_equal(after_threshold, after_opacity)
    assert window.model_thread.submitted == jobs
    assert window.explaining.last_overlay_ms < 1000


@needs_fixtures
def test_changing_the_method_runs_exactly_one_job(qtbot, window):
    explained(qtbot, window, CHEST)
    wait_idle(qtbot, window)
    jobs = window.model_thread.submitted
    other = next(key for key in window.controls.methods if key != window.controls.method_key()
                 and window.controls.methods[key].needs_gradients)  # a gradient method: fast
    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        window.controls.set_method(other)
    wait_idle(qtbot, window)
    assert window.model_thread.submitted == jobs + 1
    assert window.state.explanation.result.method == other


@needs_fixtures
def test_a_second_request_while_one_runs_drops_the_stale_result(qtbot, window):
    explained(qtbot, window, CHEST)
    wait_idle(qtbot, window)
    other = next(key for key, info in window.controls.methods.items()
                 if info.needs_gradients and key != "gradcam")
    shown = []
    window.explanationShown.connect(lambda: shown.append(window.state.explanation.result.method))
    window.controls.set_method("scorecam")
    first = window.jobs.tracker.wanted("explain")
    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        window.controls.set_method(other)
    wait_idle(qtbot, window)
    assert window.jobs.tracker.wanted("explain") != first
    assert window.state.dropped_results >= 1  # the Score-CAM job: cancelled, its result (if any) ignored
    assert shown == [other]
    assert window.state.explanation.result.method == other


def test_progress_reports_are_throttled_and_the_end_always_arrives(qtbot):
    from viewer.ui.worker import PROGRESS_INTERVAL_S, JobThread

    thread = JobThread("test")
    reports = []
    thread.progressed.connect(lambda _id, fraction: reports.append(fraction))

    def job(context):
        start = time.perf_counter()
        for i in range(20_000):  # far more calls than a progress bar can show
            context.progress(i / 20_000)
        context.progress(1.0)
        return time.perf_counter() - start

    with qtbot.waitSignal(thread.finished, timeout=10_000) as blocker:
        thread.submit("count", job)
    qtbot.waitUntil(lambda: reports and reports[-1] == 1.0, timeout=2000)
    seconds = blocker.args[2]
    assert reports[0] == 0.0  # the first report is not held back
    assert len(reports) <= seconds / PROGRESS_INTERVAL_S + 2
    assert reports == sorted(reports)
    assert thread.shutdown(2.0)


@needs_fixtures
def test_cancel_stops_score_cam_within_a_second(qtbot, window):
    explained(qtbot, window, CHEST)
    wait_idle(qtbot, window)
    window.session.top_n = 512  # many maps: Score-CAM runs for seconds unless cancelled
    window.session.batch_size = 1
    with qtbot.waitSignal(window.model_thread.progressed, timeout=JOB_TIMEOUT_MS):
        window.controls.set_method("scorecam")
    assert window.jobs.cancel_button.isVisible()
    start = time.perf_counter()
    with qtbot.waitSignal(window.model_thread.cancelled, timeout=5000):
        window.jobs.cancel_button.click()
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"cancel took {elapsed:.2f} s"
    assert window.state.explanation is None or window.state.explanation.result.method != "scorecam"
    assert not window.jobs.cancel_button.isVisible()


@needs_fixtures
def test_a_bad_file_shows_the_reason_and_the_window_stays_usable(qtbot, window, tmp_path):
    bad = tmp_path / "notes.dcm"
    bad.write_text("this is not an image\n")
    with qtbot.waitSignal(window.errorReported, timeout=JOB_TIMEOUT_MS) as blocker:
        window.open_paths([bad])
    assert "notes.dcm" in blocker.args[0]
    assert window.banner.isVisible() and "notes.dcm" in window.banner.message()
    assert window.browser.skipped.count() == 1
    explained(qtbot, window, CHEST)  # still works afterwards
    assert window.state.explanation is not None


@needs_fixtures
def test_a_bad_model_shows_the_reason(qtbot, window, tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a model")
    with qtbot.waitSignal(window.errorReported, timeout=JOB_TIMEOUT_MS) as blocker:
        window.load_model(bad)
    assert "broken.keras" in blocker.args[0]
    assert window.state.model is None
    explained(qtbot, window, CHEST)


@needs_fixtures
def test_zoom_and_pan_are_synchronised(qtbot, window):
    explained(qtbot, window, CHEST)
    original, heat, over = (window.views[name] for name in ("original", "heatmap", "overlay"))
    original.zoom_by(2.0)
    original.viewChanged.emit()
    assert heat.zoom == pytest.approx(original.zoom) == pytest.approx(over.zoom)
    # Drag the heatmap with the left button: the others pan to the same image point.
    start = heat.viewport().rect().center()
    qtbot.mousePress(heat.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(heat.viewport(), start + QPoint(60, 40))
    qtbot.mouseRelease(heat.viewport(), Qt.MouseButton.LeftButton, pos=start + QPoint(60, 40))
    for view in (original, over):
        assert view.centre().x() == pytest.approx(heat.centre().x(), abs=1.5)
        assert view.centre().y() == pytest.approx(heat.centre().y(), abs=1.5)
    window.view_group.fit()
    assert all(view.fit_mode for view in window.views.values())


@needs_fixtures
def test_right_drag_sets_window_level_and_presets_restore_it(qtbot, window):
    explained(qtbot, window, CHEST)
    wait_idle(qtbot, window)
    jobs = window.model_thread.submitted
    view = window.views["original"].viewport()
    before = window.state.window
    start = view.rect().center()
    qtbot.mousePress(view, Qt.MouseButton.RightButton, pos=start)
    qtbot.mouseMove(view, start + QPoint(80, 30))
    qtbot.mouseRelease(view, Qt.MouseButton.RightButton, pos=start + QPoint(80, 30))
    qtbot.waitUntil(lambda: not window.imaging.render_scheduled)
    assert window.state.window.width > before.width and window.state.window.center > before.center
    assert window.model_thread.submitted == jobs  # window/level is display only
    window.imaging.preset(0)
    qtbot.waitUntil(lambda: not window.imaging.render_scheduled)
    assert window.state.window.explanation == "auto"
    shown = pixels(window.views["original"])
    window.imaging.toggle_invert()
    qtbot.waitUntil(lambda: not window.imaging.render_scheduled)
    assert np.array_equal(pixels(window.views["original"]), 255 - shown)


@needs_fixtures
def test_export_writes_the_chosen_files_and_never_overwrites_silently(qtbot, window, tmp_path):
    explained(qtbot, window, CHEST)
    wait_idle(qtbot, window)
    out = tmp_path / "out"
    out.mkdir()
    options = ExportOptions(panels=["original", "overlay", "side_by_side"], format="png", folder=out)
    with qtbot.waitSignal(window.io_thread.finished, timeout=JOB_TIMEOUT_MS):
        window.exporting.export(options)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["dx_chest_nih_uncompressed.json", "dx_chest_nih_uncompressed_original.png",
                     "dx_chest_nih_uncompressed_overlay.png", "dx_chest_nih_uncompressed_panels.png"]
    side = Image.open(out / names[3])
    assert side.width > 3 * 1024 and side.height > 1024  # full resolution, titles and caption added
    assert json.loads((out / names[0]).read_text())["method"] == window.state.explanation.result.method
    stamp = (out / names[1]).stat().st_mtime_ns
    asked = []
    assert window.exporting.export(options, confirm=lambda paths: asked.append(paths) or False) is None
    assert len(asked[0]) == 4 and (out / names[1]).stat().st_mtime_ns == stamp
    with qtbot.waitSignal(window.io_thread.finished, timeout=JOB_TIMEOUT_MS):
        window.exporting.export(options, confirm=lambda paths: True)
    assert (out / names[1]).stat().st_mtime_ns != stamp


@needs_fixtures
def test_export_dicom_secondary_capture_anonymised(qtbot, window, tmp_path):
    import pydicom

    explained(qtbot, window, CHEST)
    options = ExportOptions(panels=["overlay"], format="dicom", anonymize=True, sidecar=False, folder=tmp_path)
    with qtbot.waitSignal(window.io_thread.finished, timeout=JOB_TIMEOUT_MS):
        window.exporting.export(options)
    (written,) = tmp_path.glob("*.dcm")
    assert "dx_chest" not in written.name
    ds = pydicom.dcmread(written)
    assert str(ds.PatientName) != "Covid0000"
    assert ds.Columns > 1024 and ds.Rows > 1024  # the colour bar adds columns, the caption bars rows


@needs_fixtures
def test_batch_export_explains_every_open_image_with_progress(qtbot, window, tmp_path):
    explained(qtbot, window, CHEST, CHEST_PNG)
    wait_idle(qtbot, window)
    progress = []
    window.model_thread.progressed.connect(lambda _id, fraction: progress.append(fraction))
    options = ExportOptions(panels=["heatmap"], format="jpeg", folder=tmp_path, batch=True, sidecar=False)
    with qtbot.waitSignal(window.model_thread.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        window.exporting.export(options)
    assert blocker.args[1] == "export"
    assert len(list(tmp_path.glob("*_heatmap.jpg"))) == 2
    assert progress and progress[-1] == pytest.approx(1.0)


@needs_fixtures
def test_no_ui_stall_over_100_ms_while_score_cam_runs(qtbot, window):
    explained(qtbot, window, FIXTURES / "dicom" / "cr_chest_mono1_j2k.dcm")  # 1955x1841: the largest fixture
    wait_idle(qtbot, window)
    window.session.top_n, window.session.batch_size = 128, 1  # 128 one-map batches: about a second
    gaps, last, timer = stall_probe()
    with qtbot.waitSignal(window.model_thread.started, timeout=JOB_TIMEOUT_MS):
        window.controls.set_method("scorecam")
    last[0] = time.perf_counter()
    timer.start()
    qtbot.waitUntil(lambda: not window.model_thread.busy(), timeout=JOB_TIMEOUT_MS)
    timer.stop()
    worst_ms = max(gaps) * 1000
    print(f"\nworst UI stall during Score-CAM: {worst_ms:.0f} ms over {len(gaps)} ticks")
    assert len(gaps) > 5
    assert worst_ms < 100


@needs_fixtures
def test_settings_are_remembered(qtbot, settings):
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.controls.threshold.setValue(63)
    first.controls.set_method("scorecam")
    first.set_layout(2)
    first.close()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    assert second.controls.threshold.value() == 63
    assert second.controls.method_key() == "scorecam"
    assert second.layout_count == 2
    second.shutdown()


@needs_fixtures
def test_anonymising_hides_patient_corner_text(qtbot, window):
    explained(qtbot, window, CHEST)
    assert any("Covid0000" in line for line in window.views["original"].corner_text["top_left"])
    window.menus.anonymous.trigger()
    assert not window.views["original"].corner_text["top_left"]
    assert "Covid0000" not in window.browser.tree.topLevelItem(0).text(0)


def test_bad_arguments_exit_2_with_one_line(capsys):
    from viewer.ui.app import main

    assert main(["--method", "no-such-method"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radcam: error: ")


def _run_python(code: str, timeout: float = 180, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=environment)


@needs_fixtures
def test_the_window_is_on_screen_before_tensorflow_is_imported(tmp_path):
    code = f"""
        import json, sys, time
        from PySide6.QtCore import QTimer
        from viewer.ui import app
        qapp, window, args, start = app.create([{str(CHEST)!r}, "--model", {str(MODEL)!r}, "--new-instance"])
        report = {{"shown": window.isVisible(), "tf_when_shown": "tensorflow" in sys.modules,
                   "shown_at": time.time()}}
        window.explanationShown.connect(lambda: (report.update(tf_after="tensorflow" in sys.modules),
                                                 qapp.exit(0)))
        QTimer.singleShot(0, start)
        QTimer.singleShot(120000, lambda: qapp.exit(3))
        code = qapp.exec()
        window.shutdown()
        print(json.dumps(report))
        sys.exit(code)
    """
    launched = time.time()
    result = _run_python(code, RADCAM_SETTINGS=str(tmp_path / "s.ini"))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\nprocess start to window shown: {report['shown_at'] - launched:.2f} s")
    assert report["shown"] and not report["tf_when_shown"] and report["tf_after"]


@needs_fixtures
def test_screenshot_of_an_error_state_exits_2(tmp_path):
    bad = tmp_path / "report.dcm"
    bad.write_text("not DICOM")
    shot = tmp_path / "shot.png"
    code = f"""
        import sys
        from viewer.ui.app import main
        sys.exit(main([{str(bad)!r}, "--model", {str(MODEL)!r}, "--screenshot", {str(shot)!r}]))
    """
    result = _run_python(code, RADCAM_SETTINGS=str(tmp_path / "s.ini"))
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("radcam: error: ")]
    assert len(errors) == 1 and "report.dcm" in errors[0]
    assert shot.is_file() and shot.stat().st_size > 0


@needs_fixtures
def test_closing_during_a_job_exits_within_two_seconds(tmp_path):
    code = f"""
        import sys, time
        from viewer.ui import app
        qapp, window, args, start = app.create([{str(CHEST)!r}, "--model", {str(MODEL)!r}, "--method", "scorecam",
                                               "--new-instance"])
        window.session.top_n = 512  # long enough to be running when the window closes
        window.session.batch_size = 1
        def close_while_running(_id, _fraction):
            if window.isVisible():
                print("closing-at", time.time(), flush=True)
                window.close()
        window.model_thread.progressed.connect(close_while_running)
        sys.exit(app.run(qapp, window, start))
    """
    result = _run_python(code, RADCAM_SETTINGS=str(tmp_path / "s.ini"))
    ended = time.time()
    assert result.returncode == 0, result.stderr[-2000:]
    closing = float(result.stdout.split("closing-at")[-1].split()[0])
    print(f"\nclose during Score-CAM to process end: {ended - closing:.2f} s")
    assert ended - closing < 2.0


@needs_fixtures
def test_a_model_needing_unsafe_loading_asks_for_trust(qtbot, window, tmp_path, monkeypatch):
    import keras

    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Lambda(lambda t: t * 1.0)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    asked = []
    monkeypatch.setattr("viewer.ui.dialogs.confirm_trust", lambda parent, file, reason: asked.append(reason) or True)
    window.headless = False
    with qtbot.waitSignal(window.model_thread.finished, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda _id, kind, _result: kind == "model"):
        window.load_model(path)
    assert asked and "unsafe" in asked[0]
    assert window.state.model is not None and window.state.model.name == "lambda"

    # Trust is remembered for this exact file: loading it again does not ask ...
    with qtbot.waitSignal(window.model_thread.finished, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda _id, kind, _result: kind == "model"):
        window.load_model(path)
    assert len(asked) == 1 and window.state.model.unsafe
    # ... but a changed file at the same path is a different file: asked again, refusal keeps it unloaded.
    outputs = keras.layers.Dense(1, activation="sigmoid", name="changed")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(path)
    monkeypatch.setattr("viewer.ui.dialogs.confirm_trust", lambda parent, file, reason: asked.append(reason) and False)
    with qtbot.waitSignal(window.model_thread.failed, timeout=JOB_TIMEOUT_MS):
        window.load_model(path)
    assert len(asked) == 2


@needs_fixtures
def test_dropping_files_opens_them(qtbot, window):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(CHEST_PNG))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.io_thread.finished, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda _id, kind, _result: kind == "decode"):
        window.dropEvent(event)
    assert window.state.image is not None and window.state.image.path == CHEST_PNG
    assert str(CHEST_PNG) in window.settings.recent()


@needs_fixtures
def test_multi_frame_images_have_a_frame_slider(qtbot, window):
    window.controls.auto_explain.setChecked(False)
    window.left_tabs.setCurrentWidget(window.browser)  # the slider is the study tree's (the worklist: a row a frame)
    with qtbot.waitSignal(window.io_thread.finished, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda _id, kind, _result: kind == "decode"):
        window.open_paths([FIXTURES / "dicom" / "mr_multiframe_rle.dcm"])
    assert window.browser.frame_row.isVisible() and window.browser.frame_slider.maximum() == 9
    with qtbot.waitSignal(window.io_thread.finished, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda _id, kind, _result: kind == "decode"):
        window.browser.frame_slider.setValue(3)
    assert window.state.image.frame == 3
    assert "Frame 4/10" in window.views["original"].corner_text["top_right"]


def test_clicking_a_label_explains_it(qtbot, window):
    from viewer.assets import demo_studies
    from viewer.model import default_model_path

    if not default_model_path().is_file() or not demo_studies():
        pytest.skip("the demo model or study is not installed")
    explained(qtbot, window, demo_studies()[0], model=default_model_path())
    table = window.controls.table
    assert table.rowCount() == 2
    scores = [table.item(row, 1).data(Qt.ItemDataRole.UserRole + 1) for row in range(2)]
    assert scores == sorted(scores, reverse=True)  # best first
    other = table.item(1, 0).data(Qt.ItemDataRole.UserRole)
    cell = table.visualItemRect(table.item(1, 0)).center()
    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert window.state.explanation.result.target.index == other
    assert window.controls.target_index() == other


def test_layouts_and_shortcuts(qtbot, window):
    from viewer.ui.dialogs import ShortcutsDialog, about_text

    window.set_layout(1)
    assert [name for name, view in window.views.items() if view.isVisible()] == ["overlay"]
    window.set_layout(2)
    assert [name for name, view in window.views.items() if view.isVisible()] == ["original", "overlay"]
    window.set_layout(3)
    assert all(view.isVisible() for view in window.views.values())
    actions = window.menus.all_actions()
    keys = {s.toString() for _menu, action in actions for s in action.shortcuts()}
    assert {"1", "0", "I", "F", "T", "Ctrl+1", "Ctrl+E", "Ctrl+O", "Ctrl+M", "Esc"} <= keys
    dialog = ShortcutsDialog(actions)
    assert dialog.findChild(type(window.controls.table)).rowCount() >= 30
    text = about_text("CPU")
    assert all(name in text for name in ("TensorFlow", "Keras", "Qt", "pydicom", "CPU"))


def test_the_demo_model_is_badged_not_for_diagnosis(qtbot, window):
    from viewer.assets import demo_studies
    from viewer.model import default_model_path

    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        window.load_model(default_model_path())
        window.open_paths(demo_studies()[:1])
    controls = window.controls
    assert not controls.model_badge.isHidden()
    assert "NOT FOR DIAGNOSIS" in controls.model_description.text()
    assert "Input 128×128×1" in controls.model_details.text()


def test_a_folder_of_ten_thousand_non_images_lists_without_freezing_the_window(qtbot, window, tmp_path):
    folder = tmp_path / "export_dump"
    folder.mkdir()
    for number in range(10_000):
        (folder / f"report_{number:05d}.txt").write_text("not an image")
    # A full collection owed by the 3000 tests before this one (0.5 s over their heap) is not the window's stall.
    gc.collect()
    gaps, last, timer = stall_probe()
    timer.start()
    with qtbot.waitSignal(window.errorReported, timeout=JOB_TIMEOUT_MS) as blocker:
        window.open_paths([folder])
    wait_idle(qtbot, window)
    timer.stop()
    assert "any of 10000 files" in blocker.args[0]
    assert window.browser.skipped.count() == 10_000  # each listed with its reason
    assert window.state.image is None
    assert len(gaps) > 5 and max(gaps) < 0.5, f"worst stall {max(gaps) * 1000:.0f} ms"


def test_a_model_without_a_spatial_layer_loads_and_says_why_cam_cannot_run(qtbot, window, tmp_path):
    import keras

    from viewer.assets import demo_studies

    inputs = keras.Input((32, 32, 1))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
    path = tmp_path / "flat.keras"
    keras.Model(inputs, outputs).save(path)
    window.controls.set_method("gradcam")
    with qtbot.waitSignal(window.errorReported, timeout=JOB_TIMEOUT_MS) as blocker:
        window.load_model(path)
        window.open_paths(demo_studies()[:1])
    assert window.state.model is not None and window.state.model.layers == []
    assert "spatial" in blocker.args[0]
    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        window.controls.set_method("guided-backprop")  # needs no layer: still works


def test_trust_tab_checks_the_map_points_into_a_drawn_box_and_compares_methods(qtbot, window, tmp_path):
    from viewer.assets import demo_studies
    from viewer.model import default_model_path

    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        window.load_model(default_model_path())
        window.open_paths(demo_studies()[:1])
    wait_idle(qtbot, window)
    panel = window.trust_panel
    # Shift+drag on the original draws the box on every view; pointing is scored at once, without the model.
    view = window.views["original"]
    jobs = window.model_thread.submitted
    cam = window.state.explanation.result.cam
    peak_y, peak_x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    corner = view.mapFromScene(float(peak_x - 40), float(peak_y - 40))
    far = view.mapFromScene(float(peak_x + 40), float(peak_y + 40))
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, corner)
    qtbot.mouseMove(view.viewport(), far)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, far)
    assert window.trust.box is not None and window.views["overlay"].box() == window.trust.box
    assert "HIT" in panel.pointing_text.text()
    assert window.model_thread.submitted == jobs

    with qtbot.waitSignal(window.model_thread.finished, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda _id, kind, _result: kind == "trust"):
        window.trust.check()
    report = window.trust.report
    assert report["randomisation"]["verdict"] in ("pass", "fail", "n/a")
    assert 0.0 <= report["curves"]["deletion_auc"] <= 1.0 and set(report["baselines"]) == {"random", "edge"}
    assert report["pointing"]["hit"] is True
    assert not panel.badge.isHidden() and panel.verdict == report["verdict"] and panel.plot.curves is not None

    with qtbot.waitSignal(window.model_thread.finished, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda _id, kind, _result: kind == "compare"):
        window.trust.compare()
    dialog = window.trust.comparison
    assert dialog is not None and dialog.grid.ndim == 3
    saved = tmp_path / "methods.png"
    assert dialog.save(str(saved)) and Image.open(saved).size == (dialog.grid.shape[1], dialog.grid.shape[0])


def test_an_image_outside_the_models_domain_gets_a_red_banner_that_follows_image_and_model(qtbot, window, tmp_path):
    import shutil

    from conftest import write_dicom
    from PySide6.QtWidgets import QToolButton

    from viewer.assets import demo_studies
    from viewer.model import default_model_path

    chest = next(path for path in demo_studies() if path.name == "demo_cr_nodule.dcm")
    ct = write_dicom(tmp_path / "ct.dcm", (np.arange(256 * 256).reshape(256, 256) % 3000).astype(np.uint16),
                     bits_stored=12, Modality="CT")
    decoded = dict(timeout=JOB_TIMEOUT_MS, check_params_cb=lambda _id, kind, _result: kind == "decode")

    with qtbot.waitSignal(window.io_thread.finished, **decoded):
        window.open_paths([ct])
    assert window.domain_banner.isHidden()  # no model loaded: nothing to be out of the domain of
    explained(qtbot, window, model=default_model_path())
    assert window.domain_banner.reasons() == ["modality CT (the model expects CR or DX)"]
    assert window.domain_banner.isVisible() and "modality CT" in window.domain_banner.text.text()
    # The error strip is another widget ("No model is loaded" is on it here): dismissing it leaves this one.
    qtbot.mouseClick(window.banner.findChild(QToolButton), Qt.MouseButton.LeftButton)
    assert window.banner.isHidden() and window.domain_banner.isVisible()
    wait_idle(qtbot, window)
    (tmp_path / "one").mkdir()
    (tmp_path / "all").mkdir()
    options = ExportOptions(panels=["overlay"], folder=tmp_path / "one")
    with qtbot.waitSignal(window.io_thread.finished, timeout=JOB_TIMEOUT_MS):  # File → Export: its JSON record
        window.exporting.export(options)
    assert json.loads((tmp_path / "one" / "ct.json").read_text())["out_of_domain"] == window.domain_banner.reasons()

    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        window.open_paths([chest])
    assert window.domain_banner.isHidden() and window.domain_banner.reasons() == []
    wait_idle(qtbot, window)
    options = ExportOptions(panels=["overlay"], folder=tmp_path / "all", batch=True)
    with qtbot.waitSignal(window.model_thread.finished, timeout=JOB_TIMEOUT_MS):  # a batch: checked on its thread
        window.exporting.export(options)
    records = {path.name: json.loads(path.read_text())["out_of_domain"] for path in (tmp_path / "all").glob("*.json")}
    assert records == {"001_ct.json": ["modality CT (the model expects CR or DX)"], "002_demo_cr_nodule.json": []}

    # Another model, with other expectations: the strip follows the model without reopening the image.
    model = tmp_path / "ct_model.keras"
    shutil.copy(default_model_path(), model)
    sidecar = json.loads(default_model_path().with_name(default_model_path().name + ".json").read_text())
    model.with_name("ct_model.keras.json").write_text(json.dumps({**sidecar, "expects": {"modalities": ["CT"]}}))
    with qtbot.waitSignal(window.explanationShown, timeout=JOB_TIMEOUT_MS):
        window.load_model(model)
    assert window.domain_banner.reasons() == ["modality CR (the model expects CT)"]
    assert "ct_model" in window.domain_banner.text.text()


@needs_fixtures
def test_export_all_goes_past_an_image_that_fails_and_says_so(qtbot, window, tmp_path):
    """Export all open images: one image that cannot be read (or written) is said at the end, with how many were
    written; the images after it are exported all the same, as radcam-cli explain does."""
    from types import SimpleNamespace

    from viewer.app import ExplainSettings
    from viewer.errors import ExportError, StudyError
    from viewer.io import open_image

    explained(qtbot, window, CHEST)
    wait_idle(qtbot, window)
    broken = tmp_path / "broken.dcm"

    def opened(path, frame):
        if path == broken:
            raise StudyError(f"{path}: pixel data truncated")
        return open_image(path, frame=frame)

    options = ExportOptions(panels=["overlay"], format="png", folder=tmp_path / "out", batch=True, sidecar=False)
    (tmp_path / "out").mkdir()
    context = SimpleNamespace(cancelled=lambda: False, progress=lambda fraction: None)
    request = ExplainSettings(method="gradcam", target=None, layer=None)
    with pytest.raises(ExportError) as error:
        window.session.export_batch([(CHEST, 0), (broken, 0), (CHEST_PNG, 0)], opened, options, window.state.style,
                                    1.0, False, request, False, context)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "001_dx_chest_nih_uncompressed_overlay.png", "003_nih_00000001_000_cardiomegaly_overlay.png"]
    message = str(error.value)
    assert message.startswith("1 of 3 images could not be exported (2 file(s) written)") and "truncated" in message
