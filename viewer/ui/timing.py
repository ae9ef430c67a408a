"""Start-up probes for `radcam-cli bench` (run as `python -m viewer.ui.timing window|heatmap [--screenshot PATH]`).

Each probe starts the application exactly as `radcam` does (app.create, then app.run) and prints one JSON line
on stdout with wall-clock times (time.time(), so the parent can subtract the moment it started this process):

- `window`: the first paint of the main window, and whether TensorFlow was imported by then; then it exits.
- `heatmap`: the `radcam --screenshot PATH` flow on the demo (demo study, demo model, Grad-CAM): the moment the
  first explanation is on screen (MainWindow.explanationShown); the screenshot is written and the process exits
  as --screenshot does.

Nothing here changes how RadCAM behaves; it only observes the window.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence

PROBE_TIMEOUT_MS = 300_000


def _emit(report: dict) -> None:
    print(json.dumps(report), flush=True)


def probe_window() -> int:
    from PySide6.QtCore import QEvent, QObject, QTimer

    from . import app

    qapp, window, _args, _start = app.create(["--new-instance"])
    report: dict = {"probe": "window"}

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Paint and "shown_at" not in report:
                report.update(shown_at=time.time(), visible=window.isVisible(),
                              tensorflow_imported="tensorflow" in sys.modules)
                QTimer.singleShot(0, lambda: qapp.exit(0))
            return False

    watcher = FirstPaint()
    window.installEventFilter(watcher)
    window.update()  # a paint is due even if the window painted before the filter was installed
    QTimer.singleShot(PROBE_TIMEOUT_MS, lambda: qapp.exit(3))
    code = qapp.exec()
    window.shutdown()
    _emit(report)
    return code


def probe_heatmap(screenshot: str) -> int:
    from . import app

    qapp, window, args, start = app.create(["--screenshot", screenshot])
    report: dict = {"probe": "heatmap"}

    def shown() -> None:
        if "shown_at" not in report:
            report.update(shown_at=time.time(), method=window.controls.method_key())
            _emit(report)

    window.explanationShown.connect(shown)
    app._screenshot(qapp, window, args.screenshot)
    return app.run(qapp, window, start)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["window"]:
        return probe_window()
    if argv[:1] == ["heatmap"] and len(argv) == 3 and argv[1] == "--screenshot":
        return probe_heatmap(argv[2])
    print("usage: python -m viewer.ui.timing window | heatmap --screenshot PATH", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
