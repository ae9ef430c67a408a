"""What every PACS client does, whatever the protocol: the values it exchanges and the one interface that the
retrieval, the sending, the CLI and the viewer use. `dimse.DimseClient` (pynetdicom) and `web.WebClient`
(dicomweb-client) implement it; `open_client(node, secret)` picks one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import import_module
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from pydicom import Dataset

from viewer.progress import QUIET, Reporter

from .nodes import Node


@dataclass(frozen=True)
class StudyQuery:
    """A study-level search; empty fields match anything. Patient name takes DICOM wildcards (* and ?)."""

    patient_id: str = ""
    patient_name: str = ""
    accession: str = ""
    date_from: date | None = None
    date_to: date | None = None
    modality: str = ""

    def date_range(self) -> str:
        """StudyDate as a DICOM range ('20240101-20240131', '20240101-', '-20240131', '')."""
        if self.date_from is None and self.date_to is None:
            return ""
        def text(day: date | None) -> str:
            return day.strftime("%Y%m%d") if day else ""
        if self.date_from == self.date_to:
            return text(self.date_from)
        return f"{text(self.date_from)}-{text(self.date_to)}"


@dataclass(frozen=True)
class StudyMatch:
    study_uid: str
    patient_name: str = ""
    patient_id: str = ""
    accession: str = ""
    study_date: str = ""  # YYYYMMDD as the PACS gave it
    description: str = ""
    modalities: tuple[str, ...] = ()
    series_count: int | None = None
    instance_count: int | None = None


@dataclass(frozen=True)
class SeriesMatch:
    study_uid: str
    series_uid: str
    modality: str = ""
    number: int | None = None
    description: str = ""
    instance_count: int | None = None


@dataclass(frozen=True)
class InstanceRef:
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str = ""


@dataclass(frozen=True)
class SendResult:
    """One instance's outcome: `ok`, the DICOM status (C-STORE) or HTTP status (STOW-RS), a one-line message,
    how many attempts it took."""

    path: Path
    sop_instance_uid: str
    ok: bool
    status: int | None = None
    message: str = ""
    attempts: int = 1


@dataclass
class RetrieveResult:
    """A study (or series) in the cache: `complete` only when every instance the PACS listed is there."""

    study_uid: str
    paths: list[Path] = field(default_factory=list)
    fetched: int = 0  # transferred this time
    reused: int = 0  # already in the cache (a resumed or repeated retrieve)
    complete: bool = False
    bytes: int = 0


# Called with each instance as it arrives (the cache writes it); returns where it was written.
OnInstance = Callable[[Dataset], Path]


class PacsClient(Protocol):
    """One node's connection. Every failure is a PacsError with a one-line message naming the node (never a
    patient); a cancelled reporter raises viewer.progress.Cancelled between instances."""

    node: Node

    def echo(self) -> None: ...

    def find_studies(self, query: StudyQuery) -> list[StudyMatch]: ...

    def find_series(self, study_uid: str) -> list[SeriesMatch]: ...

    def list_instances(self, study_uid: str, series_uid: str | None = None) -> list[InstanceRef]: ...

    def fetch(self, wanted: Sequence[InstanceRef], on_instance: OnInstance, reporter: Reporter = QUIET) -> None:
        """Transfer `wanted` (C-GET, C-MOVE to our Storage SCP, or WADO-RS), calling `on_instance` for each."""
        ...

    def store(self, paths: Sequence[Path], reporter: Reporter = QUIET) -> list[SendResult]:
        """Send each file once (C-STORE or STOW-RS); per-instance results, never an exception for one refusal."""
        ...

    def close(self) -> None: ...


def shown_url(url: str) -> str:
    """The URL without any user:password@ it might carry: what messages show."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def where(node: Node) -> str:
    """How every PACS error line begins, whatever the protocol: "PACS node 'NAME' (ADDRESS)", never a secret."""
    return f"PACS node {node.name!r} ({shown_url(node.address())})"


Transport = Literal["get", "move", "wado"]


def open_client(node: Node, secret: str | None = None, *, retrieve: Transport | None = None) -> PacsClient:
    """The client for `node` (`secret`: the DICOMweb password or token; `retrieve` overrides a DIMSE node's)."""
    # importlib: dimse and web import this module's values, and a plain import back here would be a cycle
    if node.kind == "dimse":
        client: PacsClient = import_module(".dimse", __package__).DimseClient(node, retrieve=retrieve)
    else:
        client = import_module(".web", __package__).WebClient(node, secret)
    return client
