"""What the screenshot scripts share: re-running themselves under Xvfb when there is no display, and the viewer's
window as they photograph it (1600×1000, headless, a settings file of its own so the user's are never touched)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

SIZE = (1600, 1000)


def rerun_under_xvfb(script: str, argv: list[str]) -> int | None:
    """The exit code of `script argv` re-run under xvfb-run when there is no display; None when this process can
    draw (a display, or already the re-run child)."""
    if os.environ.get("DISPLAY") or os.environ.get("RADCAM_SHOT_CHILD"):
        return None
    child = {**os.environ, "RADCAM_SHOT_CHILD": "1"}
    screen = f"-screen 0 {SIZE[0]}x{SIZE[1]}x24"
    return subprocess.run(["xvfb-run", "-a", "-s", screen, sys.executable, script, *argv], env=child).returncode


def shot_window():
    """(QApplication, MainWindow) shown at SIZE, headless, with a throwaway settings file."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    settings = Settings(QSettings(str(Path(tempfile.mkdtemp()) / "radcam.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings)
    window.headless = True
    window.resize(*SIZE)
    window.show()
    return app, window
