"""The worklist: opened studies as one flat list of entries, one per image or frame (never per tree level)."""

from __future__ import annotations

from collections.abc import Iterable

from viewer.io import LoadResult

from .review import Entry, ReviewSession


def entries_from(result: LoadResult, start: int = 1) -> list[Entry]:
    """One entry per frame of every image in `result`, in the study tree's order; ids count up from `start`."""
    entries: list[Entry] = []
    for study in result.studies:
        patient = study.patient or {}
        real_study = None if study.uid.startswith("file:") else study.uid
        for series in study.series:
            for instance in series.instances:
                for frame in range(max(1, instance.frames)):
                    entries.append(Entry(
                        id=str(start + len(entries)), path=str(instance.path), frame=frame, kind=instance.kind,
                        sop_instance_uid=instance.sop_instance_uid, study_uid=real_study, study_date=study.date,
                        patient_name=_name(patient.get("name")), patient_id=patient.get("id"),
                        modality=series.modality, view=instance.view_position))
    return entries


def extend(session: ReviewSession, result: LoadResult) -> list[Entry]:
    """Add the images of `result` that the session does not hold yet (same file and frame); the new entries."""
    held = {(entry.path, entry.frame) for entry in session.entries}
    next_id = 1 + max((int(entry.id) for entry in session.entries if entry.id.isdigit()), default=0)
    new = [entry for entry in entries_from(result, next_id) if (entry.path, entry.frame) not in held]
    for number, entry in enumerate(new):  # ids stay consecutive after skipping the held ones
        entry.id = str(next_id + number)
    session.entries += new
    return new


def image_key(entry: Entry) -> tuple[str, int]:
    """What identifies the same image in two sessions (two readers' copies, or sessions built apart): the SOP
    Instance UID, else the file's content digest, else its path; with the frame."""
    return (f"uid:{entry.sop_instance_uid}" if entry.sop_instance_uid
            else f"sha256:{entry.sha256}" if entry.sha256 else f"path:{entry.path}", entry.frame)


def patients(entries: Iterable[Entry]) -> set[str]:
    return {entry.patient_id for entry in entries if entry.patient_id}


def _name(value: object) -> str | None:
    text = str(value or "").replace("^", " ").strip()
    return " ".join(text.split()) or None
