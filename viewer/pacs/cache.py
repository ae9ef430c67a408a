"""The managed local cache of retrieved instances: `root/<study>/<series>/<sop instance>.dcm`, each written atomically,
and beside each study a manifest (`.radcam-retrieve.json`) saying which instances the PACS listed and whether all of
them arrived. A study is complete only when its manifest says so, so a retrieve stopped half-way is never shown as
complete and the next one fetches only what is missing. Least recently used complete studies are evicted first when
the cache is over its limit; a study being retrieved is never evicted or cleared."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from viewer.errors import PacsError

from .client import InstanceRef
from .nodes import NodeStore, cache_dir

MANIFEST = ".radcam-retrieve.json"
MB = 1024 * 1024  # the configuration's cache_limit_mb counts these
# A UID is digits and dots (PS3.5 9.1); anything else from a PACS must never become a path (no "..", no "/").
UID = re.compile(r"[0-9]+(\.[0-9]+)*")


@dataclass(frozen=True)
class CachedStudy:
    study_uid: str
    path: Path
    size_bytes: int
    instances: int
    complete: bool
    used: float  # when it was last retrieved or opened (time.time())
    retrieving: bool  # a retrieve is running now (this or another live process)


def _uid(value: object, what: str) -> str:
    text = str(value or "").strip()
    if not UID.fullmatch(text) or len(text) > 64:
        raise PacsError(f"{text[:70]!r} is not a valid {what} (digits and dots, at most 64)")
    return text


def check_uid(value: str, what: str = "Study Instance UID") -> str:
    """`value` if it is a DICOM UID, else a PacsError saying so (a typed UID, before asking any node)."""
    return _uid(value, what)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # there os.kill(pid, 0) would send CTRL_C_EVENT: another process's retrieve is not seen
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is someone else's
        return True
    return True


def _write_atomically(path: Path, write: Any) -> None:
    """`write(file object)` into a temporary file beside `path`, then rename it over `path`: a reader (or a crash)
    never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class PacsCache:
    """Retrieved studies under `root` (default: nodes.cache_dir()), kept under `limit_bytes` (default: the
    configured cache limit) by evict()."""

    def __init__(self, root: Path | None = None, limit_bytes: int | None = None) -> None:
        self.root = root if root is not None else cache_dir()
        self.limit_bytes = limit_bytes if limit_bytes is not None else NodeStore().cache_limit_mb * MB

    # -- paths and the manifest

    def study_dir(self, study_uid: str) -> Path:
        return self.root / _uid(study_uid, "Study Instance UID")

    def path_for(self, ref: InstanceRef) -> Path:
        return (self.study_dir(ref.study_uid) / _uid(ref.series_uid, "Series Instance UID")
                / f"{_uid(ref.sop_instance_uid, 'SOP Instance UID')}.dcm")

    def _manifest_path(self, study_uid: str) -> Path:
        return self.study_dir(study_uid) / MANIFEST

    def _manifest(self, study_uid: str) -> dict[str, Any]:
        path = self._manifest_path(study_uid)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {"state": "partial", "expected": []}  # unreadable: never trusted as complete
        return data if isinstance(data, dict) else {"state": "partial", "expected": []}

    def _save_manifest(self, study_uid: str, data: dict[str, Any]) -> None:
        encoded = json.dumps(data, indent=1).encode("utf-8")
        try:
            _write_atomically(self._manifest_path(study_uid), lambda out: out.write(encoded))
        except OSError as exc:
            raise PacsError(f"cannot write to the PACS cache {self.root}: {exc.strerror or exc}") from None

    # -- one retrieve's life: begin, put..., complete (or end when it stops)

    def begin(self, study_uid: str, refs: Sequence[InstanceRef], *, whole_study: bool = False) -> None:
        """Say that `refs` of the study are being retrieved: the study is partial (and not evictable) until
        complete(). `refs` is what the PACS lists now: with `whole_study` it replaces all that was expected, else it
        replaces what was expected of its series, other series retrieved before staying expected (an instance the
        PACS no longer lists would otherwise keep the study partial for ever)."""
        data = self._manifest(study_uid)
        series = {} if whole_study else dict(data.get("series", {}))
        listed = {ref.series_uid for ref in refs}
        kept = [sop for sop in data.get("expected", []) if not whole_study and series.get(sop) not in listed]
        expected = list(dict.fromkeys([*kept, *(ref.sop_instance_uid for ref in refs)]))
        still = set(kept)
        series = {sop: uid for sop, uid in series.items() if sop in still}
        for ref in refs:
            series[ref.sop_instance_uid] = _uid(ref.series_uid, "Series Instance UID")
        self._save_manifest(study_uid, {"state": "partial", "expected": expected, "series": series,
                                        "retrieving": os.getpid(), "used": time.time()})

    def put(self, ds: Dataset) -> Path:
        """Write one received instance where its UIDs say, atomically; returns its path."""
        ref = InstanceRef(_uid(ds.get("StudyInstanceUID"), "Study Instance UID"),
                          _uid(ds.get("SeriesInstanceUID"), "Series Instance UID"),
                          _uid(ds.get("SOPInstanceUID"), "SOP Instance UID"), str(ds.get("SOPClassUID", "")))
        path = self.path_for(ref)
        meta = getattr(ds, "file_meta", None)
        if meta is None or "TransferSyntaxUID" not in meta:
            if "PixelData" in ds and getattr(ds["PixelData"], "is_undefined_length", False):
                raise PacsError("the PACS sent a compressed instance without its transfer syntax")
            meta = ds.file_meta = meta if meta is not None else FileMetaDataset()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.MediaStorageSOPClassUID = ref.sop_class_uid or meta.get("MediaStorageSOPClassUID", "")
        meta.MediaStorageSOPInstanceUID = ref.sop_instance_uid
        try:
            _write_atomically(path, lambda out: ds.save_as(out, enforce_file_format=True))
        except OSError as exc:
            raise PacsError(f"cannot write to the PACS cache {self.root}: {exc.strerror or exc}") from None
        return path

    def missing(self, study_uid: str, refs: Iterable[InstanceRef]) -> list[InstanceRef]:
        return [ref for ref in refs if not self.path_for(ref).is_file()]

    def _expected_refs(self, study_uid: str, data: dict[str, Any]) -> list[InstanceRef]:
        series = data.get("series", {})
        return [InstanceRef(study_uid, series.get(sop, ""), sop) for sop in data.get("expected", [])]

    def complete(self, study_uid: str) -> bool:
        """Mark the study complete if every expected instance is here (else it stays partial); ends the retrieve.
        Returns whether it is complete."""
        data = self._manifest(study_uid)
        refs = self._expected_refs(study_uid, data)
        done = bool(refs) and not any(not ref.series_uid for ref in refs) and not self.missing(study_uid, refs)
        data.update(state="complete" if done else "partial", used=time.time())
        data.pop("retrieving", None)
        self._save_manifest(study_uid, data)
        return done

    def end(self, study_uid: str) -> None:
        """A retrieve stopped (failure, cancel): the study stays partial, and may now be evicted or cleared."""
        data = self._manifest(study_uid)
        if data.pop("retrieving", None) is not None:
            data["state"] = "partial"
            self._save_manifest(study_uid, data)

    def is_complete(self, study_uid: str) -> bool:
        return self._manifest(study_uid).get("state") == "complete"

    def touch(self, study_uid: str) -> None:
        """The study was used (opened, retrieved again): it becomes the last to be evicted."""
        data = self._manifest(study_uid)
        if data:
            data["used"] = time.time()
            self._save_manifest(study_uid, data)

    def paths(self, study_uid: str) -> list[Path]:
        """The instances of the study that are here, in a stable order."""
        folder = self.study_dir(study_uid)
        return sorted(folder.glob("*/*.dcm")) if folder.is_dir() else []

    # -- the whole cache

    def studies(self) -> list[CachedStudy]:
        found: list[CachedStudy] = []
        if not self.root.is_dir():
            return found
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or not UID.fullmatch(folder.name):
                continue
            data = self._manifest(folder.name)
            files = [p for p in folder.rglob("*") if p.is_file()]
            pid = data.get("retrieving")
            found.append(CachedStudy(
                study_uid=folder.name, path=folder, size_bytes=sum(p.stat().st_size for p in files),
                instances=sum(1 for p in files if p.suffix == ".dcm" and not p.name.startswith(".")),
                complete=data.get("state") == "complete",
                used=float(data.get("used", folder.stat().st_mtime)),
                retrieving=isinstance(pid, int) and _alive(pid)))
        return found

    def size_bytes(self) -> int:
        return sum(study.size_bytes for study in self.studies())

    def _remove(self, study: CachedStudy) -> None:
        try:
            shutil.rmtree(study.path)
        except OSError as exc:
            raise PacsError(f"cannot remove {study.path} from the PACS cache: {exc.strerror or exc}") from None

    def evict(self, keep: Iterable[str] = ()) -> list[str]:
        """Remove least recently used studies until the cache is under its limit: complete ones first, then stopped
        partial ones; never one being retrieved, nor those in `keep`. Returns the study UIDs removed."""
        studies = self.studies()
        total = sum(study.size_bytes for study in studies)
        kept = set(keep)
        candidates = sorted((s for s in studies if not s.retrieving and s.study_uid not in kept),
                            key=lambda s: (not s.complete, s.used))
        removed = []
        for study in candidates:
            if total <= self.limit_bytes:
                break
            self._remove(study)
            total -= study.size_bytes
            removed.append(study.study_uid)
        return removed

    def clear(self) -> list[str]:
        """Remove every study but those being retrieved now; returns the study UIDs removed."""
        removed = []
        for study in self.studies():
            if not study.retrieving:
                self._remove(study)
                removed.append(study.study_uid)
        return removed
