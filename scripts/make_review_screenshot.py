"""The README's review-session screenshot, reproducibly: python scripts/make_review_screenshot.py [OUT.png].

Writes a synthetic worklist (demo phantoms as CR DICOMs of made-up patients, one of them with a prior study),
prepares the session with `radcam-cli session new`, gives a few verdicts as a reader would, and takes the viewer's
screenshot of it (under xvfb-run when there is no display). Nothing here is patient data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from pydicom import Dataset, FileMetaDataset
from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, generate_uid

from viewer.app.review import Mark
from viewer.app.review_file import SessionFile
from viewer.demo.phantom import make_phantom

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "resources" / "models" / "demo_phantom_cnn.keras"
CASES = [  # (patient, study date, lesions)
    ("ALPHA", "20240310", ("nodule",)), ("ALPHA", "20230302", ()), ("BRAVO", "20240311", ("consolidation",)),
    ("CHARLIE", "20240311", ()), ("DELTA", "20240312", ("nodule", "consolidation")), ("ECHO", "20240312", ()),
    ("FOXTROT", "20240313", ("consolidation",)), ("GOLF", "20240313", ("nodule",)), ("HOTEL", "20240314", ()),
    ("INDIA", "20240314", ("nodule",)), ("JULIETT", "20240315", ()), ("KILO", "20240315", ("consolidation",)),
]


def write_case(folder: Path, number: int, patient: str, date: str, lesions: tuple[str, ...]) -> Path:
    # 8-bit, shown as stored (window 128/256): the rendering the demo model was trained on
    stored = (np.clip(make_phantom(100 + number, 512, list(lesions)).image, 0, 1) * 255).astype(np.uint8)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ComputedRadiographyImageStorage
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = (generate_uid() for _ in range(3))
    ds.PatientName, ds.PatientID = f"SYNTHETIC^{patient}", f"SYN-{patient[:3]}"
    ds.StudyDate, ds.StudyTime, ds.Modality, ds.ViewPosition = date, "090000", "CR", "PA"
    ds.StudyDescription = "SYNTHETIC PHANTOM - NOT FOR DIAGNOSIS"
    ds.SeriesNumber = ds.InstanceNumber = 1
    ds.set_pixel_data(stored, "MONOCHROME2", 8, generate_instance_uid=False)
    ds.WindowCenter, ds.WindowWidth = 128, 256
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = folder / f"case{number:02d}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def main(out: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="radcam-shot-"))
    images = work / "images"
    images.mkdir()
    for number, (patient, date, lesions) in enumerate(CASES, 1):
        write_case(images, number, patient, date, lesions)
    session = work / "reading.radcam-session"
    subprocess.run([sys.executable, "-m", "viewer.cli", "session", "new", str(images), "--model", str(MODEL),
                    "--out", str(session), "--reader", "Dr Demo"], check=True)
    file, review = SessionFile.open(session, "Dr Demo")
    first, second, third = review.entries[:3]
    review.set_verdict(first.id, "nodule", "agree", note="right mid zone", mark=Mark(300, 210, 60, 60))
    review.set_verdict(first.id, "consolidation", "agree")
    review.set_verdict(second.id, "nodule", "disagree", note="vessel end-on")
    review.set_verdict(second.id, "consolidation", "agree")
    review.set_verdict(third.id, "nodule", "uncertain")
    file.save(review)
    file.release()
    env = {**os.environ, "RADCAM_SETTINGS": str(work / "settings.ini")}
    command = ["radcam", "--new-instance", "--screenshot", str(out), str(session)]
    if not os.environ.get("DISPLAY"):
        command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *command]
    subprocess.run(command, check=True, env=env)
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "review-session.png")
