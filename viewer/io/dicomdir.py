"""DICOMDIR: the files a DICOM media directory references, found as media really arrive.

File IDs are upper case (PS3.10 8.5: A-Z, 0-9, _), but media copied by hand often have lower-case names and
CD-ROMs mounted without name mapping add ISO 9660 ';1' versions; on a case-sensitive file system each ID is
matched to its name on disk. Every reference that matches no file is reported, never dropped silently (pydicom's
FileSet drops them with only a warning, so the records are read here directly).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydicom import Dataset
from pydicom.uid import MediaStorageDirectoryStorage

from .study import Skipped

Listings = dict[Path, dict[str, list[str]]]  # a folder's names by their case-free key

_ISO9660_VERSION = re.compile(r"\.?;\d+$")  # 'IM000001;1', 'IM000001.;1'


def is_dicomdir(ds: Dataset) -> bool:
    try:
        media_class = ds.file_meta.get("MediaStorageSOPClassUID")
    except Exception:  # noqa: BLE001 - a damaged file meta element (unknown VR): no directory, the image may open
        media_class = None
    return media_class == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds


def referenced_files(ds: Dataset, dicomdir: Path) -> list[Path | Skipped]:
    """Every file the directory's records reference, as a path on disk or as a Skipped saying why not."""
    root = dicomdir.absolute().parent
    listings: dict[Path, dict[str, list[str]]] = {}
    found: list[Path | Skipped] = []
    for record in ds.get("DirectoryRecordSequence", []):
        if record.get("RecordInUseFlag") == 0:  # PS3.10 (retired): an inactive record references nothing
            continue
        parts = _file_id(record.get("ReferencedFileID"))
        if parts:
            found.append(_resolve(root, parts, listings))
    return found or [Skipped(dicomdir, "a DICOMDIR that lists no files")]


def _file_id(value: Any) -> list[str]:
    if not value:
        return []
    values = [value] if isinstance(value, str) else list(value)
    # Some writers put the whole ID in one value with '/' or '\' between the folders.
    return [part for one in values for part in re.split(r"[\\/]", str(one).strip()) if part]


def _resolve(root: Path, parts: list[str], listings: Listings) -> Path | Skipped:
    written = root.joinpath(*parts)
    if any(part in (".", "..") for part in parts) or Path(parts[0]).is_absolute():
        return Skipped(written, "listed in the DICOMDIR with a file ID that leaves the media folder: "
                       + "/".join(parts))
    if written.is_file():
        return written
    folder = root
    for index, part in enumerate(parts):
        where = folder.relative_to(root).as_posix() if index else "the media folder"  # as named on disk
        names = _listing(folder, listings).get(_key(part), [])
        exact = [name for name in names if name == part]
        if exact or len(names) == 1:
            folder = folder / (exact or names)[0]
        elif names:
            return Skipped(written, f"listed in the DICOMDIR but ambiguous: {', '.join(names)} in {where} "
                           f"all match {part}")
        else:
            return Skipped(written, f"listed in the DICOMDIR but missing: no {part} in {where}")
    return folder


def _key(name: str) -> str:
    return _ISO9660_VERSION.sub("", name).casefold()


def _listing(folder: Path, listings: Listings) -> dict[str, list[str]]:
    """Names in `folder` by their case-free key, read once per folder however many records point into it."""
    if folder not in listings:
        names: dict[str, list[str]] = {}
        try:
            entries = sorted(entry.name for entry in folder.iterdir())
        except OSError:  # not a folder, or unreadable: nothing in it matches
            entries = []
        for name in entries:
            names.setdefault(_key(name), []).append(name)
        listings[folder] = names
    return listings[folder]
