"""The viewer drawing a GSPS that RadCAM wrote, read back over the original, reproducibly:

    python scripts/make_gsps_screenshot.py [OUT.png]     (under xvfb-run when there is no display)

Explains resources/demo/demo_cr_nodule.dcm with the demo model (Grad-CAM, every finding above its decision
threshold), writes their contours at the default CAM threshold, their captions and the file's window as a Grayscale
Softcopy Presentation State with RadCAM's writer (viewer.export.gsps) beside a copy of the study, then opens the two
together in a 1600×1000 window with its own settings file, Original and Overlay side by side: the presentation state
is drawn over the Original by RadCAM's own reader (viewer.io.presentation, viewer.ui.presentation_layer), the
viewer's own map on the Overlay beside it. Saves the window once both are on screen.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from screenshot_window import rerun_under_xvfb, shot_window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAYOUT = 2  # View → Layout: Original and Overlay side by side (Alt+2)
STUDY = "demo_cr_nodule.dcm"


def write_study(folder: Path) -> Path:
    """A copy of the demo study and its GSPS (the demo model's findings, Grad-CAM) in `folder`; the GSPS's path."""
    from viewer.assets import resource_path
    from viewer.cam import CamEngine
    from viewer.cam.multi import explain_findings
    from viewer.export.gsps import GspsFinding, write_gsps
    from viewer.io import open_image
    from viewer.model import default_model_path, load_model
    from viewer.model.spec import not_for_diagnosis
    from viewer.render.contours import contour_polygons
    from viewer.render.defaults import DEFAULTS

    image_path = folder / STUDY
    shutil.copyfile(resource_path("demo", STUDY), image_path)
    image = open_image(image_path)
    model = load_model(default_model_path())
    found = explain_findings(CamEngine(model), image.render(), "gradcam")
    flagged = not_for_diagnosis(model.spec.description)
    findings = [GspsFinding(f.target.name, f.score, "Grad-CAM", model.name,
                            contour_polygons(f.result.cam, DEFAULTS.cam_threshold), flagged)
                for f in found.findings]
    window = image.default_window
    out = folder / f"{image_path.stem}_gsps.dcm"
    write_gsps(out, image.dataset, findings, (window.center, window.width),
               description=f"RadCAM: Grad-CAM findings, CAM >= {DEFAULTS.cam_threshold:.2f}")
    print(f"{out.name}: {len(findings)} finding(s): " + ", ".join(f"{f.label} {f.score:.3f}" for f in findings))
    return out


def shoot(out: Path) -> int:
    from PySide6.QtCore import QTimer

    from viewer.model import default_model_path

    folder = Path(tempfile.mkdtemp(prefix="radcam-gsps-"))
    write_study(folder)
    app, window = shot_window()
    window.set_layout(LAYOUT)
    state = window.state

    def both_shown() -> None:
        if window.presentation.shown is None or state.explanation is None:
            QTimer.singleShot(100, both_shown)
            return
        QTimer.singleShot(500, lambda: app.exit(0 if window.grab().save(str(out)) else 2))

    window.explanationShown.connect(both_shown)
    window.load_model(default_model_path())
    window.open_paths([folder])  # the study and its presentation state, opened together
    QTimer.singleShot(300_000, lambda: app.exit(2))
    code = app.exec()
    window.shutdown()
    shutil.rmtree(folder, ignore_errors=True)
    print(out)
    return code


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/gsps.png").resolve()
    rerun = rerun_under_xvfb(__file__, [str(target)])
    raise SystemExit(shoot(target) if rerun is None else rerun)
