"""`radcam-cli pacs echo|find|get|send NODE`: the commands that talk to a configured node.

What they print names the node and the instances' UIDs and files, never a password; `find` prints what the PACS
matched (patient names included: the user asked for them), nothing else does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from viewer.errors import PacsError, RadcamError, UsageError
from viewer.export.names import printable

from .pacs_nodes import MB, read_secret_line


def _where(node: Any) -> str:
    """How every PACS error line begins (viewer.pacs.client.where; imported when needed, as pydicom comes with it)."""
    from viewer.pacs.client import where

    return where(node)


def run(args: argparse.Namespace) -> int:
    from viewer.pacs.client import open_client
    from viewer.pacs.nodes import NodeStore

    store = NodeStore()
    node = store.get(args.node)  # nothing is asked of a node that is not configured
    action = args.pacs_action
    via = getattr(args, "via", None)
    if via is not None:
        _check_via(node, via)
    if action == "find" and args.study and any((args.patient_id, args.patient_name, args.accession, args.date,
                                                 args.modality)):
        raise UsageError("--study lists one study's series; it takes no other search option")
    paths = _send_paths(args.paths) if action == "send" else []
    secret = _secret(node, args.password_stdin)
    retrieve = via if node.kind == "dimse" else None
    client = open_client(node, secret, retrieve=retrieve)
    try:
        if action == "echo":
            return _echo(client, node)
        if action == "find":
            return _find(client, args)
        if action == "get":
            return _get(client, node, store, args)
        return _send(client, node, paths, args)
    finally:
        client.close()


def _check_via(node, via: str) -> None:
    if via == "wado" and node.kind != "dicomweb":
        raise UsageError(f"--via wado needs a DICOMweb node; {node.name} is a DIMSE node (--via get or move)")
    if via in ("get", "move") and node.kind != "dimse":
        raise UsageError(f"--via {via} needs a DIMSE node; {node.name} is a DICOMweb node (--via wado)")


def _secret(node, from_stdin: bool) -> str | None:
    """The node's password or token: --password-stdin when given, else the keyring, else a terminal prompt, else
    one line saying how to give it."""
    if not node.needs_secret:
        return None
    if from_stdin:
        return read_secret_line(node)
    from viewer.pacs.credentials import secret_for

    secret = secret_for(node, _ask)
    if not secret:
        word = "token" if node.auth == "bearer" else "password"
        raise PacsError(f"{_where(node)}: needs a {word} and none was given")
    return secret


def _ask(node) -> str | None:
    word = "token" if node.auth == "bearer" else "password"
    if not sys.stdin.isatty():
        raise PacsError(f"{_where(node)}: needs a {word}: give it with --password-stdin, or store it in the "
                        f"OS keyring with 'radcam-cli pacs nodes add {node.name} ... --password-stdin'")
    import getpass

    who = f"{node.username}@" if node.username else ""
    try:
        return getpass.getpass(f"{word.capitalize()} for {who}{node.name} ({node.address()}): ") or None
    except EOFError:
        return None


def _echo(client, node) -> int:
    start = time.perf_counter()
    client.echo()
    print(f"{node.name}: echo ok ({node.address()}, {(time.perf_counter() - start) * 1e3:.0f} ms)")
    return 0


def _find(client, args: argparse.Namespace) -> int:
    from viewer.pacs.client import StudyQuery

    columns: tuple[tuple[str, str], ...]
    if args.study:
        series = client.find_series(args.study)
        rows = [asdict(match) for match in series]
        columns = (("series_uid", "SERIES UID"), ("modality", "MODALITY"), ("number", "NUMBER"),
                   ("instance_count", "INSTANCES"), ("description", "DESCRIPTION"))
    else:
        start, end = args.date or (None, None)
        query = StudyQuery(patient_id=args.patient_id, patient_name=args.patient_name, accession=args.accession,
                           date_from=start, date_to=end, modality=args.modality)
        rows = [asdict(match) for match in client.find_studies(query)]
        columns = (("study_uid", "STUDY UID"), ("study_date", "DATE"), ("patient_id", "PATIENT ID"),
                   ("patient_name", "PATIENT NAME"), ("accession", "ACCESSION"), ("modalities", "MODALITIES"),
                   ("series_count", "SERIES"), ("instance_count", "INSTANCES"), ("description", "DESCRIPTION"))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no match", file=sys.stderr)
        return 0
    table = [[title for _key, title in columns]] + [[_cell(row[key]) for key, _title in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "-"
    return printable(str(value)) or "-"


class StderrProgress:
    """A Reporter for a transfer: a percentage on stderr (redrawn on a terminal, a line per tenth otherwise)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def progress(self, fraction: float) -> None:
        percent = max(0, min(100, int(fraction * 100)))
        step = percent if self.tty else percent // 10 * 10
        if step == self.shown:
            return
        self.shown = step
        if self.tty:
            print(f"\r{self.what} {percent:3d}%", end="\n" if percent == 100 else "", file=sys.stderr, flush=True)
        else:
            print(f"radcam: {self.what} {step}%", file=sys.stderr, flush=True)

    def cancelled(self) -> bool:
        return False  # Ctrl+C interrupts the command itself


def _get(client, node, store, args: argparse.Namespace) -> int:
    from viewer.pacs.cache import PacsCache
    from viewer.pacs.nodes import cache_dir
    from viewer.pacs.retrieve import retrieve

    via = args.via or (node.retrieve if node.kind == "dimse" else "wado")
    cache = PacsCache(cache_dir(), limit_bytes=store.cache_limit_mb * MB)
    start = time.perf_counter()
    result = retrieve(client, cache, args.study, args.series, reporter=StderrProgress(f"get from {node.name}"))
    seconds = time.perf_counter() - start
    folder = cache.study_dir(args.study)
    if args.series:
        folder = folder / args.series
    summary = {"node": node.name, "via": via, "study_uid": result.study_uid, "series_uid": args.series,
               "folder": str(folder), "complete": result.complete, "instances": len(result.paths),
               "fetched": result.fetched, "reused": result.reused, "bytes": result.bytes,
               "seconds": round(seconds, 3), "paths": [str(path) for path in result.paths]}
    if not result.complete:  # retrieve() raises on a failure; an incomplete result is still never shown as done
        raise PacsError(f"{_where(node)}: the study is incomplete in the cache ({len(result.paths)} instance(s)); "
                        "retrieve again to resume")
    cache.evict(keep=[result.study_uid])  # under the limit, the study just retrieved kept
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        rate = f", {result.bytes / MB / seconds:.1f} MB/s" if result.fetched and seconds > 0 else ""
        print(f"{len(result.paths)} instance(s) in {printable(folder)} (fetched {result.fetched}, already cached "
              f"{result.reused}; {result.bytes / MB:.1f} MB by C-{via.upper()}{rate})".replace("C-WADO", "WADO-RS"))
    return 0


def _send_paths(given: list[str]) -> list[Path]:
    """Files as given (send() refuses one that is not DICOM), a folder's DICOM files (its other files left out)."""
    from pydicom.misc import is_dicom

    paths: list[Path] = []
    for text in given:
        path = Path(text)
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if p.is_file()]
            dicom = [p for p in found if _is_dicom(p, is_dicom)]
            if len(dicom) < len(found):
                print(f"radcam: {printable(path)}: {len(found) - len(dicom)} file(s) that are not DICOM left out",
                      file=sys.stderr)
            paths += dicom
        elif path.is_file():
            paths.append(path)
        else:
            raise RadcamError(f"{printable(path)}: no such file or folder")
    if not paths:
        raise RadcamError(f"no DICOM file to send in {', '.join(map(printable, given))}")
    return paths


def _is_dicom(path: Path, is_dicom) -> bool:
    try:
        return bool(is_dicom(path))
    except OSError:
        return False


def _send(client, node, paths: list[Path], args: argparse.Namespace) -> int:
    from viewer.pacs.send import send

    results = send(client, paths, reporter=StderrProgress(f"send to {node.name}"))
    if args.json:
        print(json.dumps([{**asdict(r), "path": str(r.path)} for r in results], indent=2))
    else:
        for r in results:
            state = "stored" if r.ok else "REFUSED"
            status = "" if r.status is None else f" 0x{r.status:04X}" if node.kind == "dimse" else f" HTTP {r.status}"
            tries = f" after {r.attempts} attempts" if r.attempts > 1 else ""
            said = f": {printable(r.message)}" if r.message and not r.ok else ""
            print(f"{state}{status}{tries} {printable(r.path)} {r.sop_instance_uid}{said}", flush=True)
    refused = sum(1 for r in results if not r.ok)
    if refused:
        raise PacsError(f"{_where(node)}: {refused} of {len(results)} instance(s) not stored (see the lines above)")
    print(f"{node.name}: {len(results)} instance(s) stored ({node.address()})", file=sys.stderr)
    return 0
