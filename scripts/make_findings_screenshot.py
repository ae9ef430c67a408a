"""The viewer showing All findings on the two-lesion demo study, reproducibly:

    python scripts/make_findings_screenshot.py [OUT.png]     (under xvfb-run when there is no display)

Opens the demo model and resources/demo/demo_cr_nodule.dcm in a 1600×1000 window with its own settings file and
the large-overlay layout, waits for the map, presses G (All findings), waits for every finding's map and saves the
window.
"""

from __future__ import annotations

import sys
from pathlib import Path

from screenshot_window import rerun_under_xvfb, shot_window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


LAYOUT = 4  # View → Layout: the large overlay with the original and the heatmap beside it (Alt+4)


def shoot(out: Path) -> int:
    from PySide6.QtCore import QTimer

    from viewer.assets import resource_path
    from viewer.model import default_model_path

    app, window = shot_window()
    window.set_layout(LAYOUT)
    state = window.state

    def findings_in() -> None:
        if state.findings is None:
            QTimer.singleShot(100, findings_in)
            return
        QTimer.singleShot(500, lambda: app.exit(0 if window.grab().save(str(out)) else 2))

    def explained() -> None:
        if not state.all_findings:
            window.menus.all_findings.trigger()
            findings_in()

    window.explanationShown.connect(explained)
    window.load_model(default_model_path())
    window.open_paths([resource_path("demo", "demo_cr_nodule.dcm")])
    QTimer.singleShot(300_000, lambda: app.exit(2))
    code = app.exec()
    window.shutdown()
    print(out)
    return code


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png").resolve()
    rerun = rerun_under_xvfb(__file__, [str(target)])
    raise SystemExit(shoot(target) if rerun is None else rerun)
