"""The Trust tab's verdict on a real model, reproducibly:

    python scripts/make_trust_screenshot.py [OUT.png] [--method scorecam] [--details] [--model M --image I]
    (under xvfb-run when there is no display; default OUT: docs/trust.png)

Opens the fixture model (../shared/fixtures/models/am1codes_pneumonia_150.h5, a third-party pneumonia CNN) and an
NIH chest X-ray (../shared/fixtures/images) in a 1600×1000 window with its own settings file, waits for the map,
runs Check this map on the Trust tab, waits for the verdict and saves the window. --details opens the details
(curves, ROAD, sanity check, pointing). The fixtures are not part of the project: the script says so and stops
with exit 2 when they are absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from screenshot_window import rerun_under_xvfb, shot_window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT.parent / "shared" / "fixtures"
MODEL = FIXTURES / "models" / "am1codes_pneumonia_150.h5"
IMAGE = FIXTURES / "images" / "nih_00001021_000_pneumonia.png"
TIMEOUT_MS = 600_000  # the first check on 2 CPUs: TensorFlow's start, the map, about 80 model inputs


def shoot(out: Path, method: str, details: bool, model: Path, image: Path) -> int:
    from PySide6.QtCore import QTimer

    app, window = shot_window()
    window.controls.set_method(method)
    window.side_tabs.setCurrentWidget(window.trust_panel)
    window.trust_panel.show_details(details)
    state = window.state
    failed: list[str] = []
    window.errorReported.connect(lambda message: (failed.append(message), app.exit(2)))

    def checked() -> None:
        if state.trust_report is None:
            QTimer.singleShot(200, checked)
            return
        QTimer.singleShot(500, lambda: app.exit(0 if window.grab().save(str(out)) else 2))

    def explained() -> None:
        if state.trust_report is None and not window.model_thread.busy():
            window.trust.check()
            checked()
        elif state.trust_report is None:  # the warm-up or a prefetch still runs: the check waits for it
            QTimer.singleShot(200, explained)

    window.explanationShown.connect(lambda: QTimer.singleShot(0, explained))
    window.load_model(model)
    window.open_paths([image])
    QTimer.singleShot(TIMEOUT_MS, lambda: (failed.append("no verdict in time"), app.exit(2)))
    code = app.exec()
    window.shutdown()
    for message in failed:
        print(f"make_trust_screenshot: error: {message}", file=sys.stderr)
    if code == 0:
        print(f"{out}: {state.trust_report['verdict']}")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "trust.png")
    parser.add_argument("--method", default="scorecam", help="the map's method (default: scorecam, issue 17's case)")
    parser.add_argument("--details", action="store_true", help="open the details under the verdict")
    parser.add_argument("--model", type=Path, default=MODEL, help="another model (default: the fixture model)")
    parser.add_argument("--image", type=Path, default=IMAGE, help="another image (default: an NIH pneumonia PNG)")
    args = parser.parse_args()
    for path in (args.model, args.image):
        if not path.is_file():
            print(f"make_trust_screenshot: error: no such file: {path}", file=sys.stderr)
            return 2
    out = args.out.resolve()
    if not out.parent.is_dir():  # said now, not after the minutes the check takes
        print(f"make_trust_screenshot: error: no such folder: {out.parent}", file=sys.stderr)
        return 2
    rerun = rerun_under_xvfb(__file__, sys.argv[1:])
    if rerun is not None:
        return rerun
    return shoot(out, args.method, args.details, args.model.resolve(), args.image.resolve())


if __name__ == "__main__":
    raise SystemExit(main())
