"""load(): files and folders to studies, reading headers only, with every unusable file skipped and explained."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import UnidentifiedImageError
from pydicom.errors import InvalidDicomError

from ..errors import RadcamError
from .dicom import frame_count, metadata, no_image_reason, read_dataset
from .dicomdir import is_dicomdir, referenced_files
from .failures import describe
from .opening import check_file
from .presentation import PRESENTATION_CLASSES, is_presentation_state, referenced_instances
from .raster import is_raster, probe_raster
from .study import Instance, LoadResult, Series, Skipped, Study

NO_PATIENT = {"name": None, "id": None, "sex": None, "age": None}


@dataclass(frozen=True)
class FoundState:
    """A presentation state found while listing: its file, the images it applies to, its SOP class's name."""

    path: Path
    images: frozenset[str]
    what: str


# What examining one file gives: an image and its header metadata, a refusal, a DICOMDIR's references, or a
# presentation state (not an image: attached to the images it references once the listing is done).
Examined = tuple[Instance, dict[str, Any]] | Skipped | list[Path | Skipped] | FoundState


def load(paths: Iterable[str | Path]) -> LoadResult:
    """Studies in `paths` (files, folders searched recursively, DICOMDIRs) grouped study → series → instance."""
    result = LoadResult()
    queue: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            queue += sorted(p for p in path.rglob("*") if p.is_file())
        else:
            queue.append(path)
    seen: set[Path] = set()
    states: list[FoundState] = []
    studies: dict[str, Study] = {}
    series: dict[tuple[str, str], Series] = {}
    while queue:
        path = queue.pop(0)
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        try:
            found = _examine(path)
        except Exception as exc:  # noqa: BLE001 — one bad file must not stop a folder from listing
            result.skipped.append(Skipped(path, _reason(path, exc)))
            continue
        if isinstance(found, list):  # a DICOMDIR: what it references is examined like any other file
            queue += [item for item in found if isinstance(item, Path)]
            result.skipped += [item for item in found if isinstance(item, Skipped)]
        elif isinstance(found, Skipped):
            result.skipped.append(found)
        elif isinstance(found, FoundState):
            states.append(found)
        else:
            _add(studies, series, *found)
    _attach(studies, states, result)
    for study in studies.values():
        study.series.sort(key=lambda s: (s.number is None, s.number or 0, s.uid))
        for one in study.series:
            one.instances.sort(key=lambda i: (i.instance_number is None, i.instance_number or 0, str(i.path)))
    result.studies = list(studies.values())
    return result


def _examine(path: Path) -> Examined:
    """A file as (Instance, header metadata), a Skipped, or (for a DICOMDIR) the files it references, each a path
    or a Skipped."""
    # A listing keeps no notes: warnings about a file are reported when it is opened, never as stray stderr lines.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _examine_file(path)


def _examine_file(path: Path) -> Examined:
    check_file(path)
    if is_raster(path):
        return _raster(path)
    try:
        ds, notes = read_dataset(path)
    except InvalidDicomError:
        return _raster(path)  # perhaps an image without the usual suffix
    if is_dicomdir(ds):
        return referenced_files(ds, path)
    if is_presentation_state(ds):  # not an image: drawn over the images it references (viewer.io.presentation)
        what = PRESENTATION_CLASSES[str(ds.SOPClassUID)]
        try:
            return FoundState(path, frozenset(referenced_instances(ds)), what)
        except Exception:  # noqa: BLE001 — damaged references: reported as referencing nothing
            return FoundState(path, frozenset(), what)
    reason = no_image_reason(ds)
    if reason:
        return Skipped(path, reason)
    meta = metadata(ds, notes)
    instance = Instance(path=path, frames=frame_count(ds), kind="dicom", instance_number=meta["instance_number"],
                        sop_instance_uid=meta["sop_instance_uid"], view_position=meta["view_position"])
    return instance, meta


def _raster(path: Path) -> tuple[Instance, dict[str, Any]]:
    name = str(path)
    meta = {"study_uid": f"file:{name}", "series_uid": f"file:{name}", "study_description": path.name,
            "series_description": path.name, "study_date": None, "modality": None, "series_number": None,
            "patient": dict(NO_PATIENT)}
    return Instance(path=path, frames=probe_raster(path), kind="image"), meta


def _add(studies: dict[str, Study], series: dict[tuple[str, str], Series], instance: Instance,
         meta: dict[str, Any]) -> None:
    # Files without UIDs (old or broken) form a study/series of their own rather than being merged by accident.
    study_uid = meta["study_uid"] or f"file:{instance.path}"
    series_uid = meta["series_uid"] or f"file:{instance.path}"
    study = studies.get(study_uid)
    if study is None:
        study = studies[study_uid] = Study(uid=study_uid, description=meta["study_description"],
                                           date=meta["study_date"], patient=meta["patient"])
    key = (study_uid, series_uid)
    if key not in series:
        series[key] = Series(uid=series_uid, description=meta["series_description"], modality=meta["modality"],
                             number=meta["series_number"])
        study.series.append(series[key])
    series[key].instances.append(instance)


def _attach(studies: dict[str, Study], states: list[FoundState], result: LoadResult) -> None:
    """Each presentation state onto the images it references that were opened with it; one whose images were not
    is reported (it is no image to refuse, and nothing to draw it over)."""
    by_uid: dict[str, list[Instance]] = {}
    for study in studies.values():
        for one in study.series:
            for instance in one.instances:
                if instance.sop_instance_uid:
                    by_uid.setdefault(instance.sop_instance_uid, []).append(instance)
    for state in states:
        targets = [instance for uid in sorted(state.images) for instance in by_uid.get(uid, [])]
        for instance in targets:
            instance.presentations.append(state.path)
        if not targets:
            images = f"{len(state.images)} image(s)" if state.images else "no image"
            result.skipped.append(Skipped(state.path, f"{state.what} for {images} not opened with it: open it "
                                                      "together with the image it annotates"))


def _reason(path: Path, exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not a DICOM file or an image format Pillow can read"
    if isinstance(exc, RadcamError):
        # StudyErrors start with the path, which Skipped already carries.
        return str(exc).removeprefix(f"{path}: ")
    return describe(exc)
