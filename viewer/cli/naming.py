"""How a batch command names its inputs in everything it prints or writes.

Plainly, a path as printable text (a name that is not UTF-8 shows its bytes as \\xNN). Under --anonymize, never the
source: image N is radcam_NNN, a skipped file skipped_NNN, an input folder input_N (file and folder names are often
patient names), and any of those paths inside a message is replaced by its pseudonym. The mapping back to the source
is written only where the user asks for one (--key-file).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from viewer.errors import RadcamError
from viewer.export.names import printable

KEY_FILE_HELP = ("with --anonymize: also write the pseudonym → source path mapping to FILE (.json: an object, else "
                 "CSV pseudonym,source), written atomically; keep it apart from the anonymised output")


def add_key_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-file", type=Path, metavar="FILE", help=KEY_FILE_HELP)


_COMMAND_LOG: list[logging.Logger] = []  # the radcam log while a command runs (command_log): anonymous Names clean it


@contextmanager
def command_log(logger: logging.Logger) -> Iterator[None]:
    """While a command runs (viewer.cli.main): an anonymous Names made in it cleans the records reaching `logger`;
    its filter goes when the command ends."""
    filters = list(logger.filters)
    _COMMAND_LOG.append(logger)
    try:
        yield
    finally:
        _COMMAND_LOG.remove(logger)
        logger.filters[:] = filters


class Names:
    def __init__(self, anonymize: bool = False, roots: Sequence[str | Path] = ()):
        self.anonymize = anonymize
        self._pseudonyms: dict[Path, str] = {}  # a path (as given) → what is shown instead
        self._folders: dict[str, str] = {}  # a folder's name between an input and a file (lower case) → folder_N
        self._folder_paths: dict[str, Path] = {}  # folder_N → the folder where it was first met (for --key-file)
        self._skipped = 0
        self._roots = [Path(root) for root in roots]
        for i, root in enumerate(self._roots, 1):
            self._pseudonyms.setdefault(Path(root), f"input_{i}")
        self._held: list[logging.LogRecord] | None = [] if anonymize else None  # records before named()
        self._version = 0  # bumped when a name is added: clean()'s forms are made again only then
        self._forms: tuple[int, dict[str, str], list[int]] | None = None
        if anonymize and _COMMAND_LOG:  # --log too, until the command ends
            _COMMAND_LOG[-1].addFilter(self._clean_record)

    def image(self, path: Path, pseudonym: str) -> str:
        """What image `path` is called: `pseudonym` (the output stem) when anonymising, else the path."""
        if not self.anonymize:
            return printable(path)
        self._pseudonyms[Path(path)] = pseudonym
        self._add_folders(path)
        self._version += 1
        return pseudonym

    def skipped(self, path: Path) -> str:
        if not self.anonymize:
            return printable(path)
        if Path(path) not in self._pseudonyms:
            self._skipped += 1
            self._pseudonyms[Path(path)] = f"skipped_{self._skipped:03d}"
            self._add_folders(path)
            self._version += 1
        return self._pseudonyms[Path(path)]

    def _add_folders(self, path: Path) -> None:
        """The folders `path` passes through below its input (a DICOMDIR's media folder for a DICOMDIR): a message
        may name them on their own ('no IM2 in DOEJOHN/SUB'), and hand-made folders are often patient names."""
        for root in self._roots:
            base = root.parent if root.name.upper() == "DICOMDIR" and not root.is_dir() else root
            try:
                inner = Path(os.path.abspath(path)).relative_to(os.path.abspath(base))
            except ValueError:
                continue
            for depth, part in enumerate(inner.parts[:-1], 1):
                if part.lower() not in self._folders:
                    self._folders[part.lower()] = pseudonym = f"folder_{len(self._folders) + 1}"
                    self._folder_paths[pseudonym] = Path(os.path.abspath(base)).joinpath(*inner.parts[:depth])
            return

    def of(self, path: Path) -> str:
        """What a known path is called (an input folder, an image already named), else the path itself (plain)."""
        if not self.anonymize:
            return printable(path)
        return self._pseudonyms.get(Path(path)) or self.skipped(path)

    def clean(self, message: str) -> str:
        """`message` without any source path or name when anonymising (each replaced by its pseudonym), printable."""
        message = printable(message)
        if not self.anonymize:
            return message
        forms, lengths = self._known_forms()
        # One pass, the longest form first at each place (a path before its own file name), no pseudonym rewritten
        # again: look-ups by length, not one regular expression of every form (seconds a line over an archive).
        said: list[str] = []
        at = 0
        while at < len(message):
            for length in lengths:
                pseudonym = forms.get(message[at:at + length].lower())
                if pseudonym is not None:
                    said.append(pseudonym)
                    at += length
                    break
            else:
                said.append(message[at])
                at += 1
        return "".join(said)

    def _known_forms(self) -> tuple[dict[str, str], list[int]]:
        """Every form of every known path and name (lower case) → its pseudonym, and their lengths, longest first;
        made again only once a name was added."""
        if self._forms is not None and self._forms[0] == self._version:
            return self._forms[1], self._forms[2]
        # Case-free: a DICOMDIR's file ID (DOEJOHN) names a folder that a hand copy wrote as doejohn.
        forms: dict[str, str] = {}
        for path, pseudonym in self._pseudonyms.items():
            for form in (str(path), os.path.abspath(path), str(Path(path).resolve())):
                # A form with no folder in it ("." or "a" as given) is a bare name: only a name of 3 or more is
                # replaced wherever it stands, or '1.2.3.4' would read '1input_12input_1...'.
                if os.sep in form or (len(form) > 2 and form not in (".", "..")):
                    forms[printable(form).lower()] = pseudonym
        for path, pseudonym in self._pseudonyms.items():
            name = Path(path).name
            if len(name) > 2 and name.upper() != "DICOMDIR":  # a file or folder name on its own ("LEAKFOLDER_Doe")
                forms.setdefault(printable(name).lower(), pseudonym)
        for folder, pseudonym in self._folders.items():
            if len(folder) > 2:
                forms.setdefault(printable(folder).lower(), pseudonym)
        self._forms = (self._version, forms, sorted({len(form) for form in forms}, reverse=True))
        return forms, self._forms[2]

    def _clean_record(self, record: logging.LogRecord) -> bool:
        """A record on its way to --log cleaned like a printed line: a library's message quotes the file it read
        (pydicom: "End of file reached before delimiter ... found in file DOE_JOHN/IM1")."""
        if self._held is not None:  # the files are being listed, not yet named: said once they are
            self._held.append(record)
            return False
        try:
            text = record.getMessage()
            if record.exc_info:  # a traceback quotes paths too
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            elif record.exc_text:
                text += "\n" + record.exc_text
            record.msg = self.clean(text)
        except Exception:  # noqa: BLE001 — a record that cannot be said: its logger's name and level only
            record.msg = "(message withheld under --anonymize)"
        record.args, record.exc_info, record.exc_text, record.stack_info = None, None, None, None
        return True

    def named(self) -> None:
        """Every image has its pseudonym: the log's records held since the listing go to it, cleaned."""
        held, self._held = self._held or [], None
        for record in held:
            for logger in _COMMAND_LOG[-1:]:
                logger.handle(record)

    def detail(self, exc: Exception) -> str:
        """What an unexpected exception says, for its one line: nothing under --anonymize, where a library's message
        may quote a value read from the file ("Unable to convert '19610704X' to 'DA'"), which clean() cannot know;
        --debug shows it. Else its message, printable."""
        return "" if self.anonymize else printable(str(exc))

    def error(self, exc: Exception) -> RadcamError:
        """`exc` as a RadcamError whose message is clean."""
        return RadcamError(self.clean(str(exc)))

    def write_key(self, path: Path | None, overwrite: bool) -> None:
        """The pseudonym → source mapping, only where the user asked for one."""
        if path is None:
            return
        from viewer.export import atomic_write

        rows = [(pseudonym, printable(os.path.abspath(source))) for source, pseudonym in self._pseudonyms.items()]
        rows = sorted(rows + [(pseudonym, printable(folder)) for pseudonym, folder in self._folder_paths.items()])
        if path.suffix.lower() == ".json":
            text = json.dumps(dict(rows), indent=2, ensure_ascii=False) + "\n"
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(["pseudonym", "source"])
            writer.writerows(rows)
            text = buffer.getvalue()
        atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"), overwrite)


def check_key_file(args: argparse.Namespace) -> None:
    """Before any work: --key-file needs --anonymize, and is not replaced without --overwrite."""
    key = getattr(args, "key_file", None)
    if key is None:
        return
    if not args.anonymize:
        raise RadcamError("--key-file maps pseudonyms back to sources; it needs --anonymize")
    if key.exists() and not args.overwrite:
        raise RadcamError(f"{key} exists; use --overwrite to replace it")
    if not key.parent.is_dir():
        raise RadcamError(f"cannot write {key}: folder {key.parent} does not exist")
