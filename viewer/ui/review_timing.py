"""The next-image probe for `radcam-cli bench` (`python -m viewer.ui.review_timing FOLDER COUNT [--no-prefetch]`).

It starts the application as `radcam FOLDER` does (app.create, the demo model), with COUNT phantom chest images
written to FOLDER as 1024 × 1024 PNGs, and waits until the worklist's pre-scan is done and the next image has been
prefetched; then it presses J (next unreviewed image, through the real key handling) and times the keypress to
the moment that image's map is on screen (MainWindow.explanationShown), once per image. One JSON line on stdout:
{"probe": "next_image", "samples_ms": [...], "prefetched": hits}. With --no-prefetch the image is decoded and
explained only when J asks (the figure prefetching is measured against). Nothing here changes how RadCAM behaves.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

PROBE_TIMEOUT_MS = 300_000
SIZE = 1024


def write_phantoms(folder: Path, count: int) -> None:
    from PIL import Image

    from viewer.demo.phantom import make_phantom

    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        Image.fromarray(make_phantom(100 + number, SIZE, ["nodule"]).display).save(folder / f"phantom_{number:02d}.png")


def probe_next(folder: Path, count: int, prefetch: bool = True) -> int:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest

    from . import app

    write_phantoms(folder, count)
    qapp, window, _args, start = app.create(["--new-instance", str(folder)])
    report: dict = {"probe": "next_image", "samples_ms": [], "prefetched": 0}
    pressed: list[float] = []
    reviewing = window.reviewing
    reviewing.prefetcher.enabled = prefetch  # off: the same keypress without the image made ahead (the baseline)

    def ready() -> bool:
        """The map is on screen, nothing runs, and the image J opens is decoded and explained ahead."""
        prefetcher = reviewing.prefetcher
        if window.state.showing() is None or window.model_thread.busy() or window.io_thread.busy():
            return False
        upcoming = reviewing.upcoming(1)
        if not prefetch:
            return upcoming is not None
        decoded = prefetcher.decoded
        return (upcoming is not None and decoded is not None and str(decoded[0].path) == upcoming.path
                and prefetcher.explained == prefetcher._key(decoded[1]))

    def poll() -> None:
        if pressed:
            return
        review = window.review_state
        last = review.session is not None and review.current == review.session.entries[-1].id
        if last and window.state.showing() is not None:
            qapp.exit(0)
        elif ready():
            pressed.append(time.perf_counter())
            QTest.keyClick(window, Qt.Key.Key_J)

    def shown() -> None:
        if pressed:
            report["samples_ms"].append((time.perf_counter() - pressed.pop()) * 1000)

    window.explanationShown.connect(shown)
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(poll)
    timer.start()
    QTimer.singleShot(PROBE_TIMEOUT_MS, lambda: qapp.exit(3))
    window.activateWindow()
    code = app.run(qapp, window, start)
    report["prefetched"] = reviewing.prefetcher.hits
    print(json.dumps(report), flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) in (2, 3) and argv[1].isdigit() and int(argv[1]) >= 2 and argv[2:] in ([], ["--no-prefetch"]):
        return probe_next(Path(argv[0]), int(argv[1]), prefetch=not argv[2:])
    print("usage: python -m viewer.ui.review_timing FOLDER COUNT [--no-prefetch] (COUNT >= 2)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
