"""Comparison with a prior: the earlier study of the same patient in the worklist, and the model's score change.

Chest films are read against the patient's previous film. The prior of an entry is found from its DICOM headers
only (PatientID, StudyDate, StudyInstanceUID, Modality, ViewPosition): nothing is guessed from file names, and an
entry without a patient ID or a study date has no prior.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from .review import Entry


def study_day(value: str | None) -> date | None:
    """A DICOM DA value (YYYYMMDD) as a date; None for anything else (empty, partial, or not a real day)."""
    text = (value or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def prior_of(entry: Entry, entries: Iterable[Entry]) -> Entry | None:
    """The entry to compare `entry` with, or None.

    Candidates: the same non-empty PatientID, an earlier StudyDate, another study (a different StudyInstanceUID
    when both have one). Among them a comparable film wins over a recent one: same modality first, then the same
    view (a PA is read against the last PA, not against a lateral taken a week later), then the most recent date;
    ties keep worklist order (the first frame, the first series).
    """
    patient, day = (entry.patient_id or "").strip(), study_day(entry.study_date)
    if not patient or day is None:
        return None
    best: tuple[tuple[bool, bool, date], Entry] | None = None
    for other in entries:
        if other is entry or not other.patient_id or other.patient_id.strip() != patient:
            continue  # the cheap test first: a worklist of 10,000 images is searched on every image change
        other_day = study_day(other.study_date)
        same_study = entry.study_uid is not None and other.study_uid == entry.study_uid
        if other_day is None or other_day >= day or same_study:
            continue
        rank = (_same(other.modality, entry.modality), _same(other.view, entry.view), other_day)
        if best is None or rank > best[0]:
            best = (rank, other)
    return best[1] if best else None


def why_none(entry: Entry | None) -> str:
    """Why `entry` has no prior, in words for the status bar (call it when prior_of gave None)."""
    if entry is None:
        return "the image on screen is not in the worklist"
    if not (entry.patient_id or "").strip():
        return "the image has no Patient ID"
    if study_day(entry.study_date) is None:
        return "the image has no Study Date"
    return "no earlier study of this patient is in the worklist"


def days_between(current: Entry, prior: Entry) -> int | None:
    """How many days before `current` the prior was taken; None when either date is unknown."""
    now, then = study_day(current.study_date), study_day(prior.study_date)
    return (now - then).days if now and then else None


def captions(current: Entry, prior: Entry, anonymous: bool) -> tuple[str, str]:
    """The titles above the two images: the study dates, or under anonymisation only how far apart they are
    (an absolute date identifies a patient; an interval does not)."""
    days = days_between(current, prior)
    ago = f"{days} day{'s' if days != 1 else ''} earlier" if days is not None else "earlier"
    if anonymous:
        return "Current", f"Prior ({ago})"
    return f"Current · {_iso(current.study_date)}", f"Prior · {_iso(prior.study_date)} ({ago})"


@dataclass(frozen=True)
class ScoreChange:
    label: str
    prior: float
    current: float

    @property
    def delta(self) -> float:
        return self.current - self.prior

    def text(self) -> str:
        """"Nodule 0.42 → 0.81 (+0.39)": rounded once, so the printed difference is that of the printed scores."""
        before, after = round(self.prior, 2), round(self.current, 2)
        return f"{self.label[:1].upper()}{self.label[1:]} {before:.2f} → {after:.2f} ({after - before:+.2f})"


def score_changes(current: Mapping[str, float] | None, prior: Mapping[str, float] | None,
                  top: int = 3) -> list[ScoreChange]:
    """current − prior for each label both scored, the `top` findings first: those either image scores highest
    (a finding that went away matters as much as a new one). Empty when either has no predictions."""
    if not current or not prior:
        return []
    changes = [ScoreChange(label, float(prior[label]), float(score)) for label, score in current.items()
               if label in prior]
    changes.sort(key=lambda change: -max(change.current, change.prior))
    return changes[:top]


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and (a or "").strip().upper() == (b or "").strip().upper()


def _iso(value: str | None) -> str:
    day = study_day(value)
    return day.isoformat() if day else (value or "date unknown")
