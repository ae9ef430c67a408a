"""DICOMDIR: the files a DICOM media directory references."""

from __future__ import annotations

from pathlib import Path

from pydicom import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import MediaStorageDirectoryStorage


def is_dicomdir(ds: Dataset) -> bool:
    try:
        media_class = ds.file_meta.get("MediaStorageSOPClassUID")
    except Exception:  # noqa: BLE001 - a damaged file meta element (unknown VR): no directory, the image may open
        media_class = None
    return media_class == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds


def referenced_files(ds: Dataset) -> list[Path]:
    """Absolute paths of every file the directory's records reference (ds must have been read from its file)."""
    return [Path(instance.path) for instance in FileSet(ds)]
