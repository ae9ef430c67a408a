"""What load() returns: studies of series of instances (files), and the files it skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .image import DisplayImage
from .opening import open_image


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass
class Instance:
    """One file; its pixels are decoded only when image() asks for a frame."""

    path: Path
    frames: int
    kind: str  # 'dicom' | 'image'
    instance_number: int | None = None
    sop_instance_uid: str | None = None
    view_position: str | None = None  # PA, AP, LL...: the worklist's view column, without decoding again
    presentations: list[Path] = field(default_factory=list)  # presentation states opened with it that apply to it

    def image(self, frame: int = 0) -> DisplayImage:
        return open_image(self.path, frame)

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "frames": self.frames, "kind": self.kind,
                "instance_number": self.instance_number, "sop_instance_uid": self.sop_instance_uid,
                "view_position": self.view_position,
                "presentation_states": [str(p) for p in self.presentations]}


@dataclass
class Series:
    uid: str
    description: str | None
    modality: str | None
    number: int | None = None
    instances: list[Instance] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"uid": self.uid, "description": self.description, "modality": self.modality,
                "number": self.number, "instances": [i.summary() for i in self.instances]}


@dataclass
class Study:
    uid: str
    description: str | None
    date: str | None
    patient: dict[str, Any]
    series: list[Series] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"uid": self.uid, "description": self.description, "date": self.date, "patient": self.patient,
                "series": [s.summary() for s in self.series]}


@dataclass
class LoadResult:
    studies: list[Study] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
