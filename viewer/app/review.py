"""A review session's record: the worklist, the model, the settings and the reader's verdict on every finding.

This module is the schema (docs/SESSION.md documents it; `SCHEMA_VERSION` is bumped on any change a version-1
reader could misread). It holds values and their JSON form only: reading and writing the file, the lock and
re-linking moved images are `viewer.app.review_file`'s job, building rows from opened studies `viewer.app.worklist`'s.

A *finding* is one label of the model. The reader's verdict on it is about the model's decision for that label
(score at or above the label's decision threshold: present): `agree`, `disagree` or `uncertain`. An image is
reviewed when every finding has a verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from viewer.render.defaults import DEFAULTS

FORMAT = "radcam-session"
SCHEMA_VERSION = 1
SUFFIX = ".radcam-session"
VERDICTS = ("agree", "disagree", "uncertain")
Verdict = Literal["agree", "disagree", "uncertain"]


class SchemaError(ValueError):
    """The JSON is not a session this version can read; the message says what is wrong in one line."""


def now() -> str:
    """UTC time in ISO 8601 with seconds: what every time in the file is."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Mark:
    """Where the reader says the finding is, in image pixels: a point (w = h = 0) or a box."""

    x: float
    y: float
    w: float = 0.0
    h: float = 0.0

    @property
    def kind(self) -> str:
        return "point" if self.w == 0 and self.h == 0 else "box"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": self.x, "y": self.y, "w": self.w, "h": self.h}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mark:
        return cls(float(data["x"]), float(data["y"]), float(data.get("w", 0.0)), float(data.get("h", 0.0)))


@dataclass(frozen=True)
class FindingVerdict:
    verdict: Verdict
    note: str = ""
    mark: Mark | None = None
    time: str = ""  # when it was given (ISO 8601, UTC)
    reader: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "note": self.note, "mark": self.mark.to_dict() if self.mark else None,
                "time": self.time, "reader": self.reader}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FindingVerdict:
        verdict = data.get("verdict")
        if verdict not in VERDICTS:
            raise SchemaError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        mark = data.get("mark")
        return cls(cast(Verdict, verdict), str(data.get("note") or ""), Mark.from_dict(mark) if mark else None,
                   str(data.get("time") or ""), str(data.get("reader") or ""))


@dataclass
class Entry:
    """One row of the worklist: one image, or one frame of a multi-frame file."""

    id: str  # stable within the session (and its copies handed to other readers)
    path: str  # as last found; re-linking updates it
    frame: int = 0
    kind: str = "image"  # 'dicom' | 'image'
    sop_instance_uid: str | None = None
    sha256: str | None = None  # of the file's bytes, once read (pre-scan); re-links files without a UID
    study_uid: str | None = None
    study_date: str | None = None  # DICOM YYYYMMDD
    patient_name: str | None = None
    patient_id: str | None = None
    modality: str | None = None
    view: str | None = None  # ViewPosition (PA, AP, LL, ...)
    predictions: dict[str, float] | None = None  # label → probability, from the session's model
    findings: dict[str, FindingVerdict] = field(default_factory=dict)  # label → the reader's verdict
    seconds: float = 0.0  # time the reader spent on this image, summed over visits
    size: int | None = None  # the file's bytes, once seen: re-linking by file name checks it

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "frame": self.frame, "kind": self.kind,
                "sop_instance_uid": self.sop_instance_uid, "sha256": self.sha256, "study_uid": self.study_uid,
                "study_date": self.study_date, "patient_name": self.patient_name, "patient_id": self.patient_id,
                "modality": self.modality, "view": self.view, "predictions": self.predictions,
                "findings": {label: found.to_dict() for label, found in self.findings.items()},
                "seconds": round(self.seconds, 3), "size": self.size}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        try:
            predictions = data.get("predictions")
            return cls(
                id=str(data["id"]), path=str(data["path"]), frame=int(data.get("frame", 0)),
                kind=str(data.get("kind", "image")), sop_instance_uid=_text(data.get("sop_instance_uid")),
                sha256=_text(data.get("sha256")), study_uid=_text(data.get("study_uid")),
                study_date=_text(data.get("study_date")), patient_name=_text(data.get("patient_name")),
                patient_id=_text(data.get("patient_id")), modality=_text(data.get("modality")),
                view=_text(data.get("view")),
                predictions={str(k): _number(v, "predictions") for k, v in predictions.items()}
                if predictions is not None else None,
                findings={str(k): FindingVerdict.from_dict(v) for k, v in (data.get("findings") or {}).items()},
                seconds=_number(data.get("seconds", 0.0), "seconds", 0.0),
                size=int(data["size"]) if data.get("size") is not None else None)
        except SchemaError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SchemaError(f"worklist entry {data.get('id', '?') if isinstance(data, dict) else '?'}: "
                              f"{type(exc).__name__} {exc}") from exc

    def reviewed(self, labels: list[str]) -> bool:
        """Every finding of the model has the reader's verdict."""
        return bool(labels) and all(label in self.findings for label in labels)

    def disagreements(self) -> int:
        return sum(found.verdict == "disagree" for found in self.findings.values())

    def top_finding(self) -> tuple[str, float] | None:
        if not self.predictions:
            return None
        label = max(self.predictions, key=lambda name: self.predictions[name] if self.predictions else 0.0)
        return label, self.predictions[label]


@dataclass(frozen=True)
class SessionModel:
    """The model the session was made with: its file, its digest (a different file is a different model) and
    what the reader needs to interpret scores without loading it."""

    path: str
    sha256: str
    name: str = ""
    labels: tuple[str, ...] = ()
    thresholds: dict[str, float] = field(default_factory=dict)  # decision threshold per label
    sidecar: dict[str, Any] | None = None  # the sidecar JSON as read, when there was one

    def threshold(self, label: str) -> float:
        return float(self.thresholds.get(label, 0.5))

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "name": self.name, "labels": list(self.labels),
                "thresholds": dict(self.thresholds), "sidecar": self.sidecar}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionModel:
        return cls(str(data["path"]), str(data["sha256"]), str(data.get("name") or ""),
                   tuple(str(label) for label in data.get("labels") or ()),
                   {str(k): float(v) for k, v in (data.get("thresholds") or {}).items()}, data.get("sidecar"))


@dataclass(frozen=True)
class SessionSettings:
    """How maps are made and drawn for the session: the same for every image and every reader."""

    method: str = "gradcam"
    layer: str | None = None
    threshold: float = DEFAULTS.cam_threshold  # the CAM threshold (the overlay's), not a decision threshold
    colormap: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "layer": self.layer, "threshold": self.threshold, "colormap": self.colormap}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionSettings:
        return cls(str(data.get("method") or "gradcam"), _text(data.get("layer")),
                   float(data.get("threshold", DEFAULTS.cam_threshold)), _text(data.get("colormap")))


@dataclass
class ReviewSession:
    entries: list[Entry]
    model: SessionModel | None = None
    settings: SessionSettings = field(default_factory=SessionSettings)
    reader: str = ""
    created: str = field(default_factory=now)
    updated: str = ""
    current: str | None = None  # the entry id the reader was on

    @property
    def labels(self) -> list[str]:
        return list(self.model.labels) if self.model else []

    def entry(self, entry_id: str) -> Entry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)

    def set_verdict(self, entry_id: str, label: str, verdict: Verdict | None, note: str | None = None,
                    mark: Mark | None | Literal["keep"] = "keep", reader: str | None = None) -> Entry:
        """The reader's verdict on one finding (None removes it); note and mark kept unless given. `reader`: who
        gave it, when not the session's own reader (someone else opened the session)."""
        entry = self.entry(entry_id)
        old = entry.findings.get(label)
        if verdict is None:
            entry.findings.pop(label, None)
            return entry
        entry.findings[label] = FindingVerdict(
            verdict, note if note is not None else (old.note if old else ""),
            (old.mark if old else None) if mark == "keep" else mark, now(), reader or self.reader)
        return entry

    def annotate(self, entry_id: str, label: str, note: str | None = None,
                 mark: Mark | None | Literal["keep"] = "keep", reader: str | None = None) -> Entry:
        """A note or a mark on a finding, with or without a verdict (then `uncertain` until the reader says)."""
        entry = self.entry(entry_id)
        old = entry.findings.get(label) or FindingVerdict("uncertain")
        entry.findings[label] = replace(old, note=note if note is not None else old.note,
                                        mark=old.mark if mark == "keep" else mark, time=now(),
                                        reader=reader or self.reader)
        return entry

    def first_unreviewed(self, after: str | None = None, step: int = 1) -> Entry | None:
        """The next entry without every verdict, in worklist order after `after` (None: from the start)."""
        order = self.entries if step > 0 else self.entries[::-1]
        start = 0
        if after is not None:
            ids = [entry.id for entry in order]
            start = ids.index(after) + 1 if after in ids else 0
        labels = self.labels
        return next((entry for entry in order[start:] if not entry.reviewed(labels)), None)

    def progress(self) -> tuple[int, int]:
        labels = self.labels
        return sum(entry.reviewed(labels) for entry in self.entries), len(self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": SCHEMA_VERSION, "created": self.created, "updated": self.updated,
                "reader": self.reader, "model": self.model.to_dict() if self.model else None,
                "settings": self.settings.to_dict(), "current": self.current,
                "entries": [entry.to_dict() for entry in self.entries]}

    @classmethod
    def from_dict(cls, data: Any) -> ReviewSession:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SchemaError("not a RadCAM session (no \"format\": \"radcam-session\")")
        version = data.get("version")
        if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
            raise SchemaError(f"session schema version {version!r}; this RadCAM reads versions 1 to {SCHEMA_VERSION}:"
                              " update RadCAM")
        entries = data.get("entries")
        if not isinstance(entries, list):
            raise SchemaError("the session has no worklist (\"entries\" must be a list)")
        try:
            model = SessionModel.from_dict(data["model"]) if data.get("model") else None
            settings = SessionSettings.from_dict(data.get("settings") or {})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SchemaError(f"the session's model or settings: {type(exc).__name__} {exc}") from exc
        session = cls([Entry.from_dict(item) for item in entries], model, settings, str(data.get("reader") or ""),
                      str(data.get("created") or ""), str(data.get("updated") or ""), _text(data.get("current")))
        if len({entry.id for entry in session.entries}) != len(session.entries):
            raise SchemaError("two worklist entries have the same id")
        return session


def default_path(folder: Path, name: str) -> Path:
    return folder / (name if name.endswith(SUFFIX) else name + SUFFIX)


def _number(value: Any, name: str, low: float = -math.inf) -> float:
    """A finite number ≥ low: Python's json reads NaN and Infinity, which a hand edit may leave in the file."""
    number = float(value)
    if not (math.isfinite(number) and number >= low):
        raise ValueError(f"{name} holds {value!r}" + (", not a finite number" if low == -math.inf else
                                                      f", not a finite number ≥ {low:g}"))
    return number


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
