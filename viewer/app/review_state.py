"""ReviewState: the open review session, the entry on screen, and when the record reaches the disk.

Qt-free, like ViewerState: controllers call its methods, widgets listen to its events. What the reader decides
(a verdict, a note, a mark) is saved at once and synchronously, before the call returns: it is the record the reader
trusts, and after a crash nothing but the keystroke in flight may be lost. What the machine produces (pre-scan
predictions, seconds on an image, the entry on screen) is saved at most once a second and on close.

A save re-serialises only the entries changed through these methods (a verdict in a 10,000-image session writes
one entry's JSON anew); after changing entries directly, set `dirty` and call `flush(force=True)` (or `save()`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .events import Event, HasEvents, field
from .review import Entry, Mark, ReviewSession, Verdict
from .review_file import SessionFile, relink

SAVE_INTERVAL = 1.0  # seconds between saves of machine-made changes (pre-scan results, seconds, position)


class ReviewState(HasEvents):
    """`session` emits when a session starts, opens or closes; `current` when another entry is on screen;
    `changed` (an entry id) when that entry's predictions, verdicts, notes, marks or seconds change."""

    session = field[ReviewSession | None](None)
    current = field[str | None](None)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.changed: Event[str] = Event("changed")
        self.file: SessionFile | None = None
        self.dirty = False  # changes not on disk yet (machine-made, or no file to save to)
        self._clock = clock
        self._saved_at = float("-inf")
        self._pending: set[str] = set()  # entries changed since the last save
        self._index: dict[str, Entry] = {}
        self.connect("current", self._follow_current)

    # -- the session ----------------------------------------------------------------------------------------

    def start(self, session: ReviewSession, path: Path | None, reader: str) -> None:
        """A new session (from opened studies or `session new`); `path` None: unsaved until `save_as`."""
        if path is None or (self.file is not None and self.file.path == Path(path).absolute()):
            self.close()  # replacing the open file: ours to let go of first
        if not session.reader:
            session.reader = reader
        file = SessionFile.create(path, session, reader, overwrite=True) if path is not None else None
        try:
            self.close()
        except BaseException:
            if file is not None:
                file.release()
            raise
        self.file = file
        self._saved_at = self._clock()
        self.dirty = file is None
        self._show(session)

    def open(self, path: Path, reader: str) -> ReviewSession:
        """Resume a saved session at its first unreviewed image (the one the reader was on, if unreviewed)."""
        if self.file is not None and self.file.path == Path(path).absolute():
            self.close()  # the open one again: read back from disk
        file, session = SessionFile.open(path, reader)
        try:
            self.close()
        except BaseException:
            file.release()
            raise
        self.file = file
        self._saved_at = self._clock()
        self.dirty = False
        self._show(session)
        return session

    def save_as(self, path: Path) -> None:
        """Write the session to `path` (replacing a file there: the caller asked) and keep saving there."""
        if self.session is None:
            return
        if self.file is not None and self.file.path == Path(path).absolute():
            self.save()
            return
        reader = self.file.reader if self.file else self.session.reader
        new = SessionFile.create(path, self.session, reader, overwrite=True)
        if self.file is not None and self.file.path != new.path:
            self.file.release()
        self.file = new
        self._saved_at = self._clock()
        self.dirty = False
        self._pending.clear()

    def close(self) -> None:
        """Save what is not on disk yet and let go of the lock. A failed save raises and leaves the session
        open (the reader can Save As elsewhere)."""
        if self.session is None:
            return
        if self.file is not None:
            self.save()  # every entry, not only the ones known changed: the last word on disk is complete
            self.file.release()
        self.file = None
        self.dirty = False
        self.session = None
        self.current = None

    def save(self) -> None:
        """Save every entry now: after changing the session other than through these methods (re-linking)."""
        if self.file is not None and self.session is not None:
            self._save(everything=True)

    def relink(self, folder: Path) -> int:
        """Find the session's moved images under `folder` (viewer.app.review_file.relink) and save the new paths."""
        if self.session is None:
            return 0
        before = [entry.path for entry in self.session.entries]
        found = relink(self.session, folder)
        if found:
            self.dirty = True
            self.save()
            for entry, path in zip(self.session.entries, before, strict=True):
                if entry.path != path:
                    self.changed.emit(entry.id)
        return found

    def flush(self, force: bool = False) -> bool:
        """Save pending machine-made changes if a second has passed since the last save; a timer or the end of
        the pre-scan calls it. `force`: now, and every entry (after changing entries directly: set `dirty`
        first). Whether it saved."""
        if not self.dirty or self.file is None or self.session is None:
            return False
        if not force and self._clock() - self._saved_at < SAVE_INTERVAL:
            return False
        self._save(everything=force)
        return True

    # -- the entry on screen --------------------------------------------------------------------------------

    def entry(self) -> Entry | None:
        return None if self.current is None else self._lookup(self.current)

    def step(self, step: int = 1, unreviewed: bool = True) -> Entry | None:
        """Move `current` to the next (step > 0) or previous entry, only unreviewed ones if `unreviewed`.
        At either end it does not wrap: None, and `current` stays."""
        if self.session is None or not self.session.entries:
            return None
        if unreviewed:
            found = self.session.first_unreviewed(self.current, step)
        else:
            ids = [entry.id for entry in self.session.entries]
            if self.current in ids:
                index = ids.index(self.current) + (1 if step > 0 else -1)
            else:
                index = 0 if step > 0 else len(ids) - 1
            found = self.session.entries[index] if 0 <= index < len(ids) else None
        if found is not None:
            self.current = found.id
        return found

    # -- the reader's record: saved at once -----------------------------------------------------------------

    def record(self, label: str, verdict: Verdict | None) -> None:
        """The reader's verdict on `label` for the entry on screen (None takes it back); on disk when this returns."""
        entry = self.entry()
        if entry is not None and self.session is not None:
            self.session.set_verdict(entry.id, label, verdict, reader=self._who())
            self._recorded(entry.id)

    def note(self, label: str, text: str) -> None:
        entry = self.entry()
        if entry is not None and self.session is not None:
            self.session.annotate(entry.id, label, note=text, reader=self._who())
            self._recorded(entry.id)

    def mark(self, label: str, mark: Mark | None) -> None:
        entry = self.entry()
        if entry is not None and self.session is not None:
            self.session.annotate(entry.id, label, mark=mark, reader=self._who())
            self._recorded(entry.id)

    def agree_all(self) -> None:
        """`agree` with every finding of the entry on screen that has no verdict yet (one save)."""
        entry = self.entry()
        if entry is None or self.session is None:
            return
        for label in self.session.labels:
            if label not in entry.findings:
                self.session.set_verdict(entry.id, label, "agree", reader=self._who())
        self._recorded(entry.id)

    # -- what the machine adds: saved at most once a second -------------------------------------------------

    def set_predictions(self, entry_id: str, scores: dict[str, float], sha256: str | None) -> None:
        """A pre-scan result: the model's score per label for one entry and, when known, its file's digest."""
        entry = self._lookup(entry_id)
        if entry is None:
            return  # the session changed while the pre-scan ran
        entry.predictions = {str(label): float(score) for label, score in scores.items()}
        if sha256:
            entry.sha256 = sha256
        self._machine_made(entry.id)

    def add_seconds(self, entry_id: str, seconds: float) -> None:
        """Time the reader spent on an entry (one visit), added to what it had."""
        entry = self._lookup(entry_id) if seconds > 0 else None
        if entry is None:
            return
        entry.seconds += seconds
        self._machine_made(entry.id)

    # -- internals ------------------------------------------------------------------------------------------

    def _who(self) -> str | None:
        """Who is giving verdicts: the reader who opened the file (a session prepared for one reader and opened
        by another records the second's name on what they decide), else the session's reader."""
        return self.file.reader if self.file is not None and self.file.reader else None

    def _show(self, session: ReviewSession) -> None:
        self.__dict__["current"] = None
        self._pending.clear()
        self._index = {}
        self.session = session
        resume = session.current
        if resume is not None and self._lookup(resume) is None:
            resume = None
        labels = session.labels
        if resume is None or session.entry(resume).reviewed(labels):
            first = session.first_unreviewed()
            resume = first.id if first else (resume or (session.entries[0].id if session.entries else None))
        self.current = resume

    def _lookup(self, entry_id: str) -> Entry | None:
        """The entry by id in constant time (the pre-scan reports 10,000 of them); rebuilt when entries change."""
        if self.session is None:
            return None
        entry = self._index.get(entry_id)
        if entry is None or len(self._index) != len(self.session.entries):
            self._index = {entry.id: entry for entry in self.session.entries}
            entry = self._index.get(entry_id)
        return entry

    def _recorded(self, entry_id: str) -> None:
        self.dirty = True
        self._pending.add(entry_id)
        try:
            if self.file is not None and self.session is not None:
                self._save()
        finally:  # in memory and on screen even when the disk refused it (the error says so; the next save retries)
            self.changed.emit(entry_id)

    def _machine_made(self, entry_id: str) -> None:
        self.dirty = True
        self._pending.add(entry_id)
        self.changed.emit(entry_id)
        self.flush()

    def _save(self, everything: bool = False) -> None:
        assert self.file is not None and self.session is not None
        self.file.save(self.session, None if everything else self._pending)
        self._saved_at = self._clock()
        self.dirty = False
        self._pending.clear()

    def _follow_current(self, entry_id: str | None) -> None:
        if self.session is not None and self.session.current != entry_id:
            self.session.current = entry_id
            if entry_id is not None:
                self.dirty = True

