"""kill -9 of the viewer in the middle of a review loses nothing but the keystroke in flight: a real viewer process
(offscreen) gives verdicts through its real key handling, is killed with SIGKILL once the file shows them, and the
session then opens again (its stale lock taken over) at the first unreviewed image with every verdict there."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from test_ui_review import make_session, opened, settings, window, write_images  # noqa: E402, F401

from viewer.app.review_file import SessionFile, read_session  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

DRIVER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication


    def main():  # under __main__ only: the decoder's helper processes import this file again
        app = QApplication([])
        from viewer.app.review_file import read_session
        from viewer.ui.main_window import MainWindow
        from viewer.ui.settings import Settings

        session, ini = Path(sys.argv[1]), sys.argv[2]
        settings = Settings(QSettings(ini, QSettings.Format.IniFormat))
        settings.set("review/reader", "Dr Kill")
        window = MainWindow(settings)
        window.headless = True
        window.resize(1200, 700)
        window.show()
        window.activateWindow()

        def wait(condition, what):
            end = time.monotonic() + 60
            while not condition():
                app.processEvents()
                time.sleep(0.01)
                if time.monotonic() > end:
                    print("timeout: " + what, flush=True)
                    sys.exit(3)

        wait(lambda: QApplication.activeWindow() is window, "active window")
        assert window.sessions.open_session(session)
        wait(lambda: window.state.image is not None and bool(window.review_panel.rows), "first image")
        Y, N, J, SHIFT = Qt.Key.Key_Y, Qt.Key.Key_N, Qt.Key.Key_J, Qt.KeyboardModifier.ShiftModifier
        steps = [(Y, SHIFT, "1", 3), (J, None, None, None), (Y, None, "2", 1), (N, None, "2", 2)]
        for key, modifier, entry, count in steps:
            QTest.keyClick(window, key, modifier or Qt.KeyboardModifier.NoModifier)
            if entry is not None:  # a reader who reads the file, not the window, sees the verdict
                wait(lambda: len(read_session(session).entry(entry).findings) == count, f"verdicts on {entry}")
            else:
                wait(lambda: window.state.image is not None and window.state.image.path.name == "chest_1.png", "J")
        print("ready", flush=True)
        while True:  # the viewer keeps running until it is killed
            app.processEvents()
            time.sleep(0.02)


    if __name__ == "__main__":
        main()
""")


def test_kill_9_loses_no_verdict_and_the_session_resumes(qtbot, window, tmp_path):  # noqa: F811 (the fixture)
    path = tmp_path / "review.radcam-session"
    SessionFile.create(path, make_session(write_images(tmp_path / "images", 3)), "Dr Kill").release()
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RADCAM_SETTINGS": str(tmp_path / "child.ini")}
    child = subprocess.Popen([sys.executable, str(driver), str(path), str(tmp_path / "child.ini")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=Path(__file__).resolve().parents[1])
    try:
        line = child.stdout.readline().strip()
        assert line == "ready", f"{line} {child.stderr.read() if child.poll() is not None else ''}"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    lock = Path(str(path) + ".lock")
    assert lock.exists()  # nobody removed it: the process died holding it

    saved = read_session(path)
    assert {label: found.verdict for label, found in saved.entry("1").findings.items()} == {
        "Effusion": "agree", "Nodule": "agree", "Mass": "agree"}
    assert {label: found.verdict for label, found in saved.entry("2").findings.items()} == {
        "Effusion": "agree", "Nodule": "disagree"}
    assert all(found.reader == "Dr Kill" for found in saved.entry("2").findings.values())

    opened(qtbot, window, path)  # the dead reader's lock is stale: taken over, no "in use" message
    assert window.review_state.file is not None
    assert window.review_state.current == "2"  # the first image without every verdict
    assert window.review_panel.selected_label() == "Mass"  # the finding the dead reader had not reached
    assert window.review_panel.progress.text().startswith("1 of 3 reviewed")
