"""Retrieving a study (or one series) into the cache, whatever the protocol: list what the node holds, begin the
study's manifest, fetch only the instances not already here, and mark it complete only when every listed instance
arrived. A failure or a cancel leaves the study partial (never shown as complete); the next retrieve resumes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydicom import Dataset

from viewer.errors import PacsError
from viewer.progress import QUIET, Cancelled, Part, Reporter

from .cache import PacsCache, check_uid
from .client import PacsClient, RetrieveResult, where


def retrieve(client: PacsClient, cache: PacsCache, study_uid: str, series_uid: str | None = None,
             reporter: Reporter = QUIET, keep: Iterable[str] = ()) -> RetrieveResult:
    """The study's (or series') instances into `cache`; raises PacsError("... stopped after N of M instances:
    <why>; retrieve again to resume") when it stops, Cancelled unchanged. The cache is then evicted down to its
    limit, but never this study nor those in `keep` (studies open in a viewer)."""
    check_uid(study_uid)
    if series_uid is not None:
        check_uid(series_uid, "Series Instance UID")
    if reporter.cancelled():
        raise Cancelled()
    refs = client.list_instances(study_uid, series_uid)
    if not refs:
        what = "series" if series_uid else "study"
        raise PacsError(f"{where(client.node)}: has no instances of that {what}")
    total = len(refs)
    cache.begin(study_uid, refs, whole_study=series_uid is None)
    arrived: list[Path] = []

    def on_instance(ds: Dataset) -> Path:
        path = cache.put(ds)
        arrived.append(path)
        return path

    try:
        missing = cache.missing(study_uid, refs)
        reused = total - len(missing)
        if missing:
            client.fetch(missing, on_instance, Part(reporter, reused / total, len(missing) / total))
        still = cache.missing(study_uid, refs)
        if still:
            raise PacsError(f"{where(client.node)}: sent {total - len(still)} "
                            f"of the {total} instances it listed")
        if not cache.complete(study_uid):
            raise PacsError(f"the cached study is incomplete ({cache.root})")
    except Cancelled:
        cache.end(study_uid)
        raise
    except PacsError as exc:
        cache.end(study_uid)
        have = total - len(cache.missing(study_uid, refs))
        raise PacsError(f"retrieve stopped after {have} of {total} instances: {exc}; retrieve again to resume") \
            from None
    except BaseException:
        cache.end(study_uid)
        raise
    reporter.progress(1.0)
    try:
        cache.evict(keep=[study_uid, *keep])
    except PacsError:
        pass  # an old study that cannot be removed now does not spoil this retrieve
    paths = [cache.path_for(ref) for ref in refs]
    return RetrieveResult(study_uid, paths, fetched=len(arrived), reused=reused, complete=True,
                          bytes=sum(path.stat().st_size for path in paths))
