"""The viewer's PACS work without Qt: each function returns a job for viewer.app.jobs (`job(reporter)`), run off
the UI thread, so a slow or dead PACS never freezes the window. Values a job needs from the state (the node, its
secret, the explanation to send) are read on the UI thread when the job is made, never inside it.

- `echo_job` (Preferences → Test), `find_job` (the panel's Search);
- `retrieve_job`: every chosen study into the managed cache (viewer.pacs.retrieve resumes a partial one), then the
  folders to open — the viewer opens them like any folder, so they join the worklist (viewer.app.worklist.extend
  through the opening path);
- `send_job`: the explanation on screen exported as the chosen DICOM kinds into a temporary folder (anonymised
  when asked: the files that leave are the anonymised ones), sent with one result per instance, the folder removed.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from viewer.errors import PacsError
from viewer.pacs.client import RetrieveResult, SendResult, StudyMatch, StudyQuery, open_client, where
from viewer.pacs.nodes import Node
from viewer.progress import Cancelled, Part, Reporter

from .jobs import Job

if TYPE_CHECKING:
    from viewer.pacs.cache import PacsCache

Ask = Callable[[Node], "str | None"]  # asks the user for a node's password (None: they declined)
Export = Callable[[Path, Reporter], list[Path]]  # writes the DICOM files to send into a folder


def node_secret(node: Node, ask: Ask | None) -> str | None:
    """The node's password or token (keyring, else this session's memory, else asked once through `ask`); a node
    that needs one and gets none is refused here, before anything is sent."""
    if not node.needs_secret:
        return None
    from viewer.pacs.credentials import secret_for

    secret: str | None = secret_for(node, ask)
    if not secret:
        raise PacsError(f"{where(node)}: needs a password: give it in Edit → Preferences → PACS nodes")
    return secret


def echo_job(node: Node, secret: str | None) -> Job[float]:
    """Seconds the node took to answer a C-ECHO (DIMSE) or a QIDO ping (DICOMweb)."""
    def job(_reporter: Reporter) -> float:
        start = time.perf_counter()
        with closing(open_client(node, secret)) as client:
            client.echo()
        return time.perf_counter() - start
    return job


def find_job(node: Node, secret: str | None, query: StudyQuery) -> Job[list[StudyMatch]]:
    def job(_reporter: Reporter) -> list[StudyMatch]:
        with closing(open_client(node, secret)) as client:
            found: list[StudyMatch] = client.find_studies(query)
        return found
    return job


@dataclass
class Retrieved:
    """What a retrieve brought: one result per study, and the folders to open (series folders in the cache)."""

    results: list[RetrieveResult] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)

    @property
    def fetched(self) -> int:
        return sum(result.fetched for result in self.results)

    @property
    def reused(self) -> int:
        return sum(result.reused for result in self.results)

    def summary(self) -> str:
        studies = len(self.results)
        instances = sum(len(result.paths) for result in self.results)
        kept = f", {self.reused} already in the cache" if self.reused else ""
        return (f"Retrieved {studies} stud{'y' if studies == 1 else 'ies'}: {instances} instance(s), "
                f"{self.fetched} transferred{kept}")


def retrieve_job(node: Node, secret: str | None, study_uids: Sequence[str], cache: PacsCache,
                 keep: Sequence[str] = ()) -> Job[Retrieved]:
    """Each study in turn into `cache`, each its share of the bar; a failure or Cancel stops with the study left
    partial in the cache (viewer.pacs.retrieve says so, and the next retrieve fetches only what is missing). The
    cache's eviction never takes the studies of this retrieve nor those in `keep` (open in the worklist)."""
    uids = list(study_uids)
    kept = [*uids, *keep]

    def job(reporter: Reporter) -> Retrieved:
        from viewer.pacs.retrieve import retrieve

        done = Retrieved()
        with closing(open_client(node, secret)) as client:
            for number, uid in enumerate(uids):
                if reporter.cancelled():
                    raise Cancelled()
                result = retrieve(client, cache, uid, None, Part(reporter, number / len(uids), 1 / len(uids)),
                                  keep=kept)
                if not result.complete:  # never opened as if it were whole
                    raise PacsError(f"{where(node)}: study {number + 1} of {len(uids)} is incomplete; "
                                    "retrieve again to resume")
                done.results.append(result)
        gone = [result for result in done.results if not cache.is_complete(result.study_uid)]
        if gone:  # each retrieve evicts down to the limit, keeping only its own study: an earlier one may be gone
            raise PacsError(f"the PACS cache limit is smaller than the {len(uids)} studies retrieved together: "
                            f"{len(gone)} were evicted again; raise the limit in Edit → Preferences → PACS nodes")
        # series folders, not files: the instances open as one study, and Open Recent gets a line per series
        done.folders = sorted({path.parent for result in done.results for path in result.paths})
        reporter.progress(1.0)
        return done
    return job


def study_states(cache: PacsCache, study_uids: Sequence[str]) -> dict[str, str]:
    """Each study's cache state: 'complete' when every instance the PACS listed is there, 'partial' when a retrieve
    began and did not finish (stopped, failed, cancelled, or running now), else ''. One manifest read per study, no
    walk of the cache: cheap enough for the UI thread."""
    states = {}
    for uid in study_uids:
        try:
            states[uid] = "complete" if cache.is_complete(uid) else "partial" if cache.study_dir(uid).is_dir() else ""
        except (OSError, PacsError):  # a UID that cannot be a folder name was never cached
            states[uid] = ""
    return states


def cache_job(cache: PacsCache, clear: bool = False) -> Job[str]:
    """What the cache holds, in one line; with `clear`, every study removed first (but one being retrieved)."""
    def job(_reporter: Reporter) -> str:
        removed = cache.clear() if clear else []
        studies = cache.studies()
        size = sum(study.size_bytes for study in studies) / (1024 * 1024)
        held = f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}, {size:.1f} MB in {cache.root}"
        return f"Removed {len(removed)}; {held}" if clear else held
    return job


@dataclass
class Sent:
    """A send's per-instance results, and what each file was (its name: `STEM_gsps.dcm` says GSPS)."""

    node: str
    results: list[SendResult]

    @property
    def refused(self) -> list[SendResult]:
        return [result for result in self.results if not result.ok]

    def summary(self) -> str:
        bad = len(self.refused)
        total = len(self.results)
        if not bad:
            return f"Sent {total} instance(s) to {self.node}"
        return f"{bad} of {total} instance(s) not stored by {self.node}: {self.refused[0].message}"


def send_job(node: Node, secret: str | None, export: Export) -> Job[Sent]:
    """Export into a fresh temporary folder, send what was written, remove the folder (always)."""
    def job(reporter: Reporter) -> Sent:
        from viewer.pacs.send import send

        folder = Path(tempfile.mkdtemp(prefix="radcam-send-"))
        try:
            paths = [path for path in export(folder, Part(reporter, 0.0, 0.2)) if path.suffix == ".dcm"]
            if not paths:
                raise PacsError("nothing to send: the export wrote no DICOM file")
            with closing(open_client(node, secret)) as client:
                results = send(client, paths, reporter=Part(reporter, 0.2, 0.8))
            reporter.progress(1.0)
            return Sent(node.name, results)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return job


__all__ = ["Ask", "Export", "Retrieved", "Sent", "cache_job", "echo_job", "find_job", "node_secret", "retrieve_job",
           "send_job", "study_states"]
