"""The PACS dock with query results, reproducibly:

    python scripts/make_pacs_screenshot.py [OUT.png]
    (under xvfb-run when there is no display; default OUT: docs/pacs.png)

Starts a private Orthanc (viewer.bench.orthanc: Debian's Orthanc with DICOMweb, authentication on, temporary ports
and storage), uploads the real DICOM fixtures (../shared/fixtures/dicom: those Orthanc accepts), configures it as a
DIMSE node in a throwaway configuration folder, opens the viewer (1600×1000, its own settings file), searches every
study, retrieves the chest DX into a throwaway cache (it opens into the worklist and is explained by the fixture
model, a pneumonia CNN) and saves the window. Exit 2 with
one line when Orthanc or the fixtures are absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from screenshot_window import rerun_under_xvfb, shot_window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT.parent / "shared" / "fixtures" / "dicom"
MODEL = ROOT.parent / "shared" / "fixtures" / "models" / "am1codes_pneumonia_150.h5"  # a real chest X-ray CNN
OPEN = "dx_chest_nih_uncompressed.dcm"  # the study retrieved and shown
TIMEOUT_MS = 120_000


def fail(message: str) -> int:
    print(f"make_pacs_screenshot: error: {message}", file=sys.stderr)
    return 2


def upload(pacs, files: list[Path]) -> list[str]:
    """Each fixture Orthanc takes (an old file without meta information may be refused): their names."""
    taken = []
    for path in files:
        try:
            pacs.upload([path])
        except Exception as exc:  # noqa: BLE001 - a fixture Orthanc refuses is left out, said on stderr
            print(f"make_pacs_screenshot: {path.name} left out: {' '.join(str(exc).split())[:120]}", file=sys.stderr)
            continue
        taken.append(path.name)
    return taken


def shoot(out: Path, work: Path) -> int:
    from pydicom import dcmread
    from PySide6.QtCore import Qt, QTimer

    from viewer.bench.orthanc import Orthanc, free_port
    from viewer.pacs.nodes import Node, NodeStore

    os.environ["RADCAM_CONFIG_DIR"] = str(work / "config")
    os.environ["RADCAM_CACHE_DIR"] = str(work / "cache")
    with Orthanc(work / "orthanc", modalities={"RADCAM": ("127.0.0.1", free_port())}) as pacs:  # RadCAM known
        taken = upload(pacs, sorted(FIXTURES.glob("*.dcm")))
        if OPEN not in taken:
            return fail(f"Orthanc did not take {OPEN}")
        wanted = str(dcmread(FIXTURES / OPEN, stop_before_pixels=True).StudyInstanceUID)
        NodeStore().put(Node("orthanc (local)", "dimse", ae_title=pacs.aet, host="127.0.0.1", port=pacs.dicom_port,
                             our_ae_title="RADCAM", timeout=20))
        app, window = shot_window()
        panel = window.pacs.panel
        window.pacs.show_dock(True)
        window.resizeDocks([window.pacs.dock], [360], Qt.Orientation.Vertical)
        failed: list[str] = []
        window.errorReported.connect(lambda message: (failed.append(message), app.exit(2)))

        def shown() -> None:
            if window.state.explanation is None or window.pacs.transfer is not None:
                QTimer.singleShot(200, shown)
                return
            QTimer.singleShot(800, lambda: app.exit(0 if window.grab().save(str(out)) else 2))

        def found() -> None:
            if not panel.matches:
                QTimer.singleShot(200, found)
                return
            panel.table.selectRow(panel.row_of(wanted))  # the rows are in the table's sort order
            panel.retrieve.click()
            shown()

        window.load_model(MODEL)  # the retrieved study is explained as it opens
        panel.search.click()
        found()
        QTimer.singleShot(TIMEOUT_MS, lambda: (failed.append("no results in time"), app.exit(2)))
        code = app.exec()
        window.shutdown()
    for message in failed:
        print(f"make_pacs_screenshot: error: {message}", file=sys.stderr)
    if code == 0:
        print(f"{out}: {len(panel.matches)} studies listed, {len(taken)} fixtures uploaded")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "pacs.png")
    args = parser.parse_args()
    from viewer.bench.orthanc import orthanc_available

    missing = orthanc_available()
    if missing:
        return fail(missing)
    if not (FIXTURES / OPEN).is_file() or not MODEL.is_file():
        return fail(f"the fixtures are absent ({FIXTURES.parent})")
    out = args.out.resolve()
    if not out.parent.is_dir():
        return fail(f"no such folder: {out.parent}")
    rerun = rerun_under_xvfb(__file__, sys.argv[1:])
    if rerun is not None:
        return rerun
    with tempfile.TemporaryDirectory(prefix="radcam-pacs-shot-") as work:
        return shoot(out, Path(work))


if __name__ == "__main__":
    raise SystemExit(main())
