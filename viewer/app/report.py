"""What a review report says, without drawing it: one row per image × finding per reader, the summary, the
agreement of model decision and reader verdict, inter-reader kappa and each reader against the model.

Several sessions are several readers of one worklist: their entries are matched by `worklist.image_key` (SOP
Instance UID, else content digest, else path). Under anonymisation every patient and image is a pseudonym
(`patient_N`, `radcam_NNN`, the same in every reader's rows), study dates are left out (PS3.15 removes them) and
notes have the patients' names, IDs and the images' paths replaced by those pseudonyms. The CSV and the text
summary are here; the HTML is `report_html`'s, the thumbnails `report_thumbs`'.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viewer.errors import SessionError

from .agreement import ModelAgreement, agreement_with_model, inter_reader_kappa
from .review import Entry, Mark, ReviewSession
from .review_file import read_session
from .worklist import image_key

ImageKey = tuple[str, int]
COLUMNS = ("reader", "entry", "image", "frame", "patient", "patient_id", "study_date", "view", "label", "score",
           "threshold", "decision", "verdict", "note", "mark", "seconds")
NO_VERDICT = "none"  # a finding the reader has not judged, in the agreement table
CALLS = ("present", "absent", "uncertain")  # what inter-reader kappa rates


@dataclass(frozen=True)
class Row:
    """One finding of one image as one reader left it (a CSV line)."""

    reader: str
    entry: str
    image: str  # the path, or radcam_NNN under anonymisation
    frame: int
    patient: str
    patient_id: str
    study_date: str
    view: str
    label: str
    score: float | None  # None: the session holds no prediction for this image
    threshold: float
    decision: str  # present | absent | "" (no score)
    verdict: str  # agree | disagree | uncertain | ""
    note: str
    mark: str  # "point x,y", "box x,y,w,h" or ""
    seconds: float  # on the image (the same on each of its findings)

    def cells(self) -> list[str]:
        return [self.reader, self.entry, self.image, str(self.frame), self.patient, self.patient_id, self.study_date,
                self.view, self.label, "" if self.score is None else f"{self.score:.4f}", f"{self.threshold:g}",
                self.decision, self.verdict, self.note, self.mark, f"{self.seconds:.1f}"]


@dataclass
class Reader:
    """One session in a report: a reader's copy of the worklist."""

    name: str
    session: ReviewSession
    path: Path | None = None  # the session file (None: the viewer's unsaved session)
    by_key: dict[ImageKey, Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.session.entries:
            self.by_key.setdefault(image_key(entry), entry)

    def reviewed(self) -> int:
        return self.session.progress()[0]

    def seconds(self) -> float:
        return sum(entry.seconds for entry in self.session.entries)

    def judged(self) -> int:
        return sum(len(entry.findings) for entry in self.session.entries)


class Pseudonyms:
    """Under anonymisation: `patient_N` per patient, `radcam_NNN` per image (by image key, so every reader's rows
    agree), and `clean(text)` for what the reader typed."""

    def __init__(self, anonymize: bool) -> None:
        self.anonymize = anonymize
        self.patients: dict[str, str] = {}
        self.images: dict[ImageKey, str] = {}
        self._secrets: dict[str, str] = {}  # text that names a patient or a source → its pseudonym
        self._pattern: tuple[re.Pattern[str], dict[str, str]] | None = None  # made once for all the notes

    def learn(self, entry: Entry) -> None:
        if not self.anonymize:
            return
        self._pattern = None
        patient = self.patient(entry)
        image = self.image(entry)
        path = Path(entry.path)
        for text, pseudonym in ((entry.patient_id, patient), (entry.patient_name, patient), (entry.path, image),
                                (os.path.abspath(path), image), (path.name, image), (path.stem, image)):
            if text and len(text) > 1:
                self._secrets.setdefault(text, pseudonym)
        for part in (entry.patient_name or "").split():  # "Doe" alone, in a note
            if len(part) > 1:
                self._secrets.setdefault(part, patient)
        date = entry.study_date or ""
        if len(date) == 8 and date.isdigit():  # the rows leave it out; a note may quote it in any usual form
            year, month, day = date[:4], date[4:6], date[6:]
            for text in (date, f"{year}-{month}-{day}", f"{year}/{month}/{day}", f"{day}.{month}.{year}",
                         f"{day}/{month}/{year}"):
                self._secrets.setdefault(text, "[study date]")

    def patient(self, entry: Entry) -> str:
        if not self.anonymize:
            return entry.patient_name or ""
        key = entry.patient_id or entry.patient_name or f"image:{image_key(entry)}"
        return self.patients.setdefault(key, f"patient_{len(self.patients) + 1}")

    def patient_id(self, entry: Entry) -> str:
        return self.patient(entry) if self.anonymize else entry.patient_id or ""

    def image(self, entry: Entry) -> str:
        if not self.anonymize:
            return entry.path
        return self.images.setdefault(image_key(entry), f"radcam_{len(self.images) + 1:03d}")

    def clean(self, text: str) -> str:
        if not self.anonymize or not self._secrets or not text:
            return text
        if self._pattern is None:
            lowered = {secret.lower(): pseudonym for secret, pseudonym in self._secrets.items()}
            # Whole words only: an ID "P1" in "P12" or a name "Li" in "lingula" is not the patient.
            self._pattern = (re.compile(rf"(?<![^\W_]){_trie_pattern(lowered)}(?![^\W_])", re.IGNORECASE), lowered)
        pattern, lowered = self._pattern
        return pattern.sub(lambda found: lowered[found.group(0).lower()], text)


@dataclass
class Report:
    readers: list[Reader]
    names: Pseudonyms
    keys: list[ImageKey]  # the images every reader has, in the first reader's order
    labels: list[str]

    @property
    def anonymize(self) -> bool:
        return self.names.anonymize

    def rows(self) -> list[Row]:
        return [row for reader in self.readers for row in reader_rows(reader, self.names)]

    def entries(self) -> list[Entry]:
        """One entry per image of the report (the first reader's), for thumbnails and the per-image section."""
        seen: dict[ImageKey, Entry] = {}
        for reader in self.readers:
            for key, entry in reader.by_key.items():
                seen.setdefault(key, entry)
        return list(seen.values())

    def table(self, reader: Reader, label: str) -> dict[tuple[str, str], int]:
        """(model decision, verdict) → count for one reader and label; decision "" is unscored, verdict "none"."""
        counts: dict[tuple[str, str], int] = {}
        for entry in reader.session.entries:
            decision = _decision(reader.session, entry, label)
            found = entry.findings.get(label)
            key = (decision, found.verdict if found else NO_VERDICT)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def with_model(self, reader: Reader, label: str | None = None) -> ModelAgreement:
        pairs: list[tuple[bool | None, str | None]] = []
        for entry in reader.session.entries:
            for name in [label] if label else self.labels:
                found = entry.findings.get(name)
                decision = _decision(reader.session, entry, name)
                pairs.append((None if not decision else decision == "present", found.verdict if found else None))
        return agreement_with_model(pairs)

    def inter_reader(self, label: str | None = None) -> tuple[str, float | None, int]:
        """(kappa's name, kappa, findings every reader judged) over the images all readers share.

        Rated on each reader's call (present / absent / uncertain), not on the verdict: chance agreement on
        verdicts follows how often the model is right, so two readers who call 9 in 10 findings alike would get
        κ = 0 beside a model that is nearly always right. A finding without a score has no call and is left out."""
        ratings: list[list[str]] = [[] for _ in self.readers]
        for key in self.keys:
            for name in [label] if label else self.labels:
                calls = [_call(reader.session, reader.by_key[key], name) for reader in self.readers]
                if all(calls):
                    for series, call in zip(ratings, calls, strict=True):
                        series.append(call)
        kind, kappa = inter_reader_kappa(ratings, CALLS)  # ("", None) for one reader; None for no items
        return kind, kappa, len(ratings[0])


def load(paths: Sequence[str | os.PathLike[str]]) -> list[Reader]:
    """The sessions in `paths`, read only (no lock): a one-line SessionError for a missing or damaged one."""
    seen: set[Path] = set()
    readers: list[Reader] = []
    for path in map(Path, paths):
        if path.resolve() in seen:
            raise SessionError(f"{path} is given twice")
        seen.add(path.resolve())
        readers.append(Reader("", read_session(path), path))
    return readers


def build(readers: Sequence[Reader | tuple[ReviewSession, Path | None]], anonymize: bool = False) -> Report:
    """The report of one session, or of several readers' sessions of one worklist (the same images and model)."""
    chosen = [item if isinstance(item, Reader) else Reader("", item[0], item[1]) for item in readers]
    if not chosen:
        raise SessionError("no session to report on")
    _name_readers(chosen)
    first = chosen[0]
    for other in chosen[1:]:
        _same_model(first, other)
    keys = [key for key in first.by_key if all(key in reader.by_key for reader in chosen[1:])]
    if len(chosen) > 1 and not keys:
        raise SessionError(f"the sessions share no image ({_label(first)} and {_label(chosen[1])} hold "
                           f"{len(first.by_key)} and {len(chosen[1].by_key)} images, none the same): they are "
                           "not copies of one worklist")
    names = Pseudonyms(anonymize)
    for reader in chosen:
        for entry in reader.session.entries:
            names.learn(entry)
    return Report(chosen, names, keys, first.session.labels)


def reader_rows(reader: Reader, names: Pseudonyms) -> list[Row]:
    session = reader.session
    rows = []
    for entry in session.entries:
        for label in session.labels:
            found = entry.findings.get(label)
            score = entry.predictions.get(label) if entry.predictions else None
            rows.append(Row(
                reader.name, entry.id, names.image(entry), entry.frame, names.patient(entry), names.patient_id(entry),
                "" if names.anonymize else entry.study_date or "", entry.view or "", label, score,
                session.model.threshold(label) if session.model else 0.5, _decision(session, entry, label),
                found.verdict if found else "", names.clean(found.note) if found else "",
                _mark(found.mark) if found else "", entry.seconds))
    return rows


def rows(session: ReviewSession, anonymize: bool = False) -> list[Row]:
    """One row per image × finding of one session."""
    return build([(session, None)], anonymize).rows()


def to_csv(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(row.cells() for row in rows)
    return buffer.getvalue()


def possessive(name: str) -> str:
    """"Cohen's", "Fleiss'"."""
    return name + ("'" if name.endswith("s") else "'s")


def kappa_text(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def duration_text(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min {rest:02d} s"


def summary_text(report: Report) -> str:
    """The short summary `radcam-cli report` prints when asked for no file."""
    lines = [f"{len(report.readers)} reader(s), {len(report.labels)} finding(s) per image"
             + (f", {len(report.keys)} image(s) in every session" if len(report.readers) > 1 else "")]
    for reader in report.readers:
        reviewed, total = reader.session.progress()
        lines.append(f"  {reader.name}: {reviewed} of {total} image(s) reviewed, {reader.judged()} verdict(s), "
                     f"{duration_text(reader.seconds())}")
    kind, kappa, items = report.inter_reader()
    if len(report.readers) < 2:
        lines.append("inter-reader agreement: not enough readers (one session)")
    else:
        lines.append(f"inter-reader agreement ({possessive(kind)} kappa on {items} finding(s) every reader judged): "
                     f"{kappa_text(kappa)}")
    for reader in report.readers:
        model = report.with_model(reader)
        lines.append(f"{reader.name} vs the model: {percent_text(model.percent)} agreement, kappa "
                     f"{kappa_text(model.kappa)} ({model.judged} judged, {model.uncertain} uncertain left out)")
    return "\n".join(lines) + "\n"


def _decision(session: ReviewSession, entry: Entry, label: str) -> str:
    score = entry.predictions.get(label) if entry.predictions else None
    if score is None:
        return ""
    return "present" if score >= (session.model.threshold(label) if session.model else 0.5) else "absent"


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of `words`, as a trie: an alternation of 60,000 names and paths tried each word at
    every character (80 ms a note); the trie follows one branch. Greedy, so a path wins over its own file name."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, Any]) -> str:
        chain: list[str] = []  # a run of single letters, in a loop: a recursion per letter fails on a 1,000-letter path
        while len(node) == 1 and "" not in node:
            char, node = next(iter(node.items()))
            chain.append(re.escape(char))
        branches = [re.escape(char) + pattern(child) for char, child in node.items() if char]
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})" if branches else ""
        return "".join(chain) + (f"(?:{body})?" if "" in node and body else body)

    return pattern(trie)


def _call(session: ReviewSession, entry: Entry, label: str) -> str:
    """The reader's own call on a finding: the model's decision when they agree, the other one when they disagree;
    "uncertain"; "" without a verdict or a score."""
    found, decision = entry.findings.get(label), _decision(session, entry, label)
    if found is None or not decision:
        return ""
    if found.verdict == "uncertain":
        return "uncertain"
    return decision if found.verdict == "agree" else {"present": "absent", "absent": "present"}[decision]


def _mark(mark: Mark | None) -> str:
    if mark is None:
        return ""
    if mark.kind == "point":
        return f"point {mark.x:g},{mark.y:g}"
    return f"box {mark.x:g},{mark.y:g},{mark.w:g},{mark.h:g}"


def _name_readers(readers: list[Reader]) -> None:
    """Each reader's name as the report shows it: the session's, else "reader N"; a repeated name numbered."""
    taken: dict[str, int] = {}
    for number, reader in enumerate(readers, 1):
        name = reader.name or reader.session.reader or f"reader {number}"
        taken[name] = taken.get(name, 0) + 1
        reader.name = name if taken[name] == 1 else f"{name} ({taken[name]})"


def _label(reader: Reader) -> str:
    return str(reader.path) if reader.path else reader.name


def _same_model(first: Reader, other: Reader) -> None:
    """Verdicts are on a model's decisions: two readers' verdicts compare only on the same model's."""
    a, b = first.session.model, other.session.model
    if a is None or b is None:
        missing = first if a is None else other
        raise SessionError(f"{_label(missing)} has no model: its verdicts cannot be compared with another reader's")
    if a.sha256 != b.sha256:
        raise SessionError(f"{_label(other)} was made with another model than {_label(first)} "
                           f"(SHA-256 {b.sha256[:12]}… vs {a.sha256[:12]}…): their verdicts are on different "
                           "decisions")
