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
from pydicom.multival import MultiValue

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


def text(ds: Dataset, keyword: str) -> str:
    """An attribute of a C-FIND identifier or a DICOM JSON answer as text ('' when absent or empty; values of a
    multi-valued one joined by backslashes, as DICOM writes them)."""
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(item) for item in value)
    return str(value).strip()


def values(ds: Dataset, keyword: str) -> tuple[str, ...]:
    value = ds.get(keyword)
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(item for item in value.split("\\") if item)
    return tuple(str(item) for item in value)


def integer(ds: Dataset, keyword: str) -> int | None:
    """An attribute as a number; None when absent, empty or not a number (a PACS may leave out what was asked)."""
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def study_match(ds: Dataset) -> StudyMatch:
    """A study-level answer (C-FIND identifier or QIDO-RS), whatever it left out."""
    return StudyMatch(
        study_uid=text(ds, "StudyInstanceUID"), patient_name=text(ds, "PatientName"),
        patient_id=text(ds, "PatientID"), accession=text(ds, "AccessionNumber"), study_date=text(ds, "StudyDate"),
        description=text(ds, "StudyDescription"), modalities=values(ds, "ModalitiesInStudy"),
        series_count=integer(ds, "NumberOfStudyRelatedSeries"),
        instance_count=integer(ds, "NumberOfStudyRelatedInstances"))


def series_match(study_uid: str, ds: Dataset) -> SeriesMatch:
    return SeriesMatch(study_uid=study_uid, series_uid=text(ds, "SeriesInstanceUID"), modality=text(ds, "Modality"),
                       number=integer(ds, "SeriesNumber"), description=text(ds, "SeriesDescription"),
                       instance_count=integer(ds, "NumberOfSeriesRelatedInstances"))


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
