"""The worklist probe for `radcam-cli bench` (run as `python -m viewer.ui.worklist_timing COUNT REPEAT`).

Each sample builds COUNT worklist entries (as a session file's would be: patient, study, scores of two labels),
the viewer's Worklist tab around them (table model, filter proxy, table view), sorts by score once (triage) and
shows it, then processes events until the rows are painted. Prints one JSON line: the samples in ms (a warm-up
first, untimed) and the rows listed. Offscreen; nothing of the user's is read or written.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence


def sample(count: int, seed: int) -> tuple[float, int]:
    import random

    from PySide6.QtWidgets import QApplication

    from viewer.app.review import Entry

    from .worklist_panel import WorklistPanel

    rng = random.Random(seed)
    started = time.perf_counter()
    entries = [Entry(id=str(i + 1), path=f"/studies/{i // 100:04d}/image_{i:06d}.dcm", kind="dicom",
                     sop_instance_uid=f"1.2.826.0.1.3680043.8.498.{seed}.{i}", study_date="20240102",
                     patient_name=f"Patient^{i // 4}", patient_id=f"P{i // 4:06d}", modality="CR", view="PA",
                     predictions={"effusion": rng.random(), "nodule": rng.random()}) for i in range(count)]
    panel = WorklistPanel()
    panel.model.set_entries(entries)
    panel.triage()
    panel.resize(420, 900)
    panel.show()
    QApplication.processEvents()
    panel.table.viewport().repaint()
    elapsed = (time.perf_counter() - started) * 1000
    rows = panel.rows.rowCount()
    panel.close()
    panel.deleteLater()
    QApplication.processEvents()
    return elapsed, rows


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2 or not all(a.isdigit() and int(a) > 0 for a in argv):
        print("usage: python -m viewer.ui.worklist_timing COUNT REPEAT", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    count, repeat = int(argv[0]), int(argv[1])
    app = QApplication.instance() or QApplication(["radcam-worklist-probe"])
    sample(count, 0)  # warm-up: imports, first table layout
    samples, rows = [], 0
    for seed in range(1, repeat + 1):
        ms, rows = sample(count, seed)
        samples.append(ms)
    print(json.dumps({"probe": "worklist", "count": count, "rows": rows, "samples_ms": samples}), flush=True)
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
