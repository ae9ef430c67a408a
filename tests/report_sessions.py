"""Review sessions for the report tests (test_report.py, test_cli_report.py): real image files on disk, one session
file per reader, verdicts given per finding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from viewer.app.review import Entry, FindingVerdict, ReviewSession, SessionModel, SessionSettings
from viewer.app.worklist import entries_from
from viewer.io import load

LABELS = ("nodule", "consolidation")  # the demo model's, so a session can name it


def write_pngs(folder: Path, count: int, prefix: str = "image") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    paths = []
    for number in range(count):
        path = folder / f"{prefix}_{number:03d}.png"
        Image.fromarray(rng.integers(0, 255, (96, 80), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def worklist(paths: list[Path]) -> list[Entry]:
    return entries_from(load([str(path) for path in paths]))


def session(entries: list[Entry], reader: str, verdicts: list[str | None] | None = None,
            model: SessionModel | None = None, scores: list[float] | None = None) -> ReviewSession:
    """A copy of `entries` for `reader`; `verdicts[i]` is item i's verdict, items in order image × LABELS;
    `scores[i]` item i's score (default 0.8 for the first label, 0.2 for the second: present, absent)."""
    copies = [Entry.from_dict(entry.to_dict()) for entry in entries]
    items = [(entry, label) for entry in copies for label in LABELS]
    for number, (entry, label) in enumerate(items):
        entry.predictions = entry.predictions or {}
        entry.predictions[label] = scores[number] if scores else (0.8 if label == LABELS[0] else 0.2)
        verdict = verdicts[number] if verdicts and number < len(verdicts) else None
        if verdict:
            entry.findings[label] = FindingVerdict(verdict, time="2026-01-01T00:00:00+00:00", reader=reader)  # type: ignore[arg-type]
        entry.seconds = 10.0
    return ReviewSession(copies, model or fake_model(), SessionSettings(), reader)


def fake_model(sha256: str = "ab" * 32, path: str = "/nowhere/model.keras") -> SessionModel:
    return SessionModel(path, sha256, "test model", LABELS, {label: 0.5 for label in LABELS})


def save(review: ReviewSession, path: Path) -> Path:
    path.write_text(json.dumps(review.to_dict()), encoding="utf-8")
    return path
