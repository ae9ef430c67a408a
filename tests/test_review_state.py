"""ReviewState (viewer.app.review_state): the reader's record reaches the disk at once, the machine's within a
second; resume at the first unreviewed image; stepping between unreviewed images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viewer.app.review import Entry, Mark, ReviewSession, SessionModel
from viewer.app.review_file import lock_path, read_session
from viewer.app.review_state import ReviewState
from viewer.errors import SessionError, SessionLockedError

MODEL = SessionModel("/models/m.keras", "0" * 64, "demo", ("nodule", "effusion"))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _session(count: int = 4) -> ReviewSession:
    return ReviewSession([Entry(str(number), f"/data/img{number}.png") for number in range(1, count + 1)], MODEL)


def _on_disk(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_verdict_note_and_mark_is_on_disk_when_the_call_returns(tmp_path):
    path = tmp_path / "s.radcam-session"
    state = ReviewState()
    changed: list[str] = []
    state.changed.connect(changed.append)
    state.start(_session(), path, "Dr A")
    assert state.current == "1" and state.entry().id == "1"
    state.record("nodule", "disagree")
    assert _on_disk(path)["entries"][0]["findings"]["nodule"]["verdict"] == "disagree"
    state.note("nodule", "calcified granuloma")
    state.mark("nodule", Mark(10, 20, 5, 5))
    found = _on_disk(path)["entries"][0]["findings"]["nodule"]
    assert (found["note"], found["mark"]["kind"], found["reader"]) == ("calcified granuloma", "box", "Dr A")
    state.agree_all()
    assert _on_disk(path)["entries"][0]["findings"]["effusion"]["verdict"] == "agree"
    assert _on_disk(path)["entries"][0]["findings"]["nodule"]["verdict"] == "disagree"  # kept
    state.record("nodule", None)
    assert "nodule" not in _on_disk(path)["entries"][0]["findings"]
    assert changed == ["1"] * 5
    state.close()
    assert not lock_path(path).exists() and state.session is None and state.current is None


def test_predictions_and_seconds_are_saved_at_most_once_a_second_and_on_close(tmp_path):
    path = tmp_path / "s.radcam-session"
    clock = Clock()
    state = ReviewState(clock)
    state.start(_session(), path, "Dr A")
    state.set_predictions("2", {"nodule": 0.7, "effusion": 0.1}, "ab" * 32)
    assert _on_disk(path)["entries"][1]["predictions"] is None  # within the second of the start's save
    clock.now += 1.5
    state.set_predictions("3", {"nodule": 0.2, "effusion": 0.9}, None)
    on_disk = _on_disk(path)["entries"]
    assert on_disk[1]["predictions"] == {"nodule": 0.7, "effusion": 0.1} and on_disk[1]["sha256"] == "ab" * 32
    state.add_seconds("3", 4.25)
    assert _on_disk(path)["entries"][2]["seconds"] == 0.0
    state.close()
    assert _on_disk(path)["entries"][2]["seconds"] == 4.25


def test_reopening_resumes_at_the_first_unreviewed_image(tmp_path):
    path = tmp_path / "s.radcam-session"
    state = ReviewState()
    state.start(_session(), path, "Dr A")
    state.agree_all()
    assert state.step() .id == "2"
    state.agree_all()
    state.close()
    assert state.open(path, "Dr A").progress() == (2, 4)
    assert state.current == "3"
    assert state.step(-1) is None and state.current == "3"  # 1 and 2 are reviewed: no unreviewed before
    assert state.step(-1, unreviewed=False).id == "2"
    state.current = "4"
    state.close()
    assert read_session(path).current == "4"
    state.open(path, "Dr A")
    assert state.current == "4"  # the saved place, still unreviewed
    assert state.step() is None and state.current == "4"  # the end: no wrapping
    state.close()


def test_a_session_open_elsewhere_is_refused_and_the_state_keeps_its_own(tmp_path):
    first, second = ReviewState(), ReviewState()
    first.start(_session(), tmp_path / "a.radcam-session", "Dr A")
    second.start(_session(2), tmp_path / "b.radcam-session", "Dr B")
    with pytest.raises(SessionLockedError):
        second.open(tmp_path / "a.radcam-session", "Dr B")
    assert second.session is not None and len(second.session.entries) == 2
    first.close()
    second.close()


def test_an_unsaved_session_saves_on_save_as(tmp_path):
    state = ReviewState()
    state.start(_session(), None, "Dr A")
    state.record("nodule", "uncertain")  # no file yet: kept in memory
    state.save_as(tmp_path / "later.radcam-session")
    assert _on_disk(tmp_path / "later.radcam-session")["entries"][0]["findings"]["nodule"]["verdict"] == "uncertain"
    state.close()


def test_an_entry_changed_directly_is_saved_by_a_forced_flush(tmp_path):
    path = tmp_path / "s.radcam-session"
    state = ReviewState()
    state.start(_session(), path, "Dr A")
    state.session.entry("3").predictions = {"nodule": 0.9}  # e.g. scores dropped for another model
    state.dirty = True
    assert state.flush(force=True)
    assert _on_disk(path)["entries"][2]["predictions"] == {"nodule": 0.9}
    state.close()


def test_a_refused_save_still_shows_the_verdict_and_is_retried(tmp_path):
    path = tmp_path / "s.radcam-session"
    state = ReviewState()
    changed: list[str] = []
    state.changed.connect(changed.append)
    state.start(_session(), path, "Dr A")
    entry = state.entry()
    entry.predictions = {"nodule": object()}  # JSON cannot hold it: the save fails
    with pytest.raises(SessionError, match="cannot save"):
        state.record("nodule", "agree")
    assert changed == ["1"] and state.dirty and entry.findings["nodule"].verdict == "agree"
    entry.predictions = {"nodule": 0.5}
    state.record("effusion", "agree")  # the next save carries both
    assert set(_on_disk(path)["entries"][0]["findings"]) == {"nodule", "effusion"}
    state.close()


def test_relink_through_the_state_saves_the_new_paths(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "a.png").write_bytes(b"not really a png, but bytes to find")
    session = ReviewSession([Entry("1", str(old / "a.png"))], MODEL)
    path = tmp_path / "s.radcam-session"
    state = ReviewState()
    changed: list[str] = []
    state.changed.connect(changed.append)
    state.start(session, path, "Dr A")
    old.rename(new)
    assert state.relink(new) == 1 and changed == ["1"]
    assert _on_disk(path)["entries"][0]["path"] == str(new / "a.png")
    state.close()


def test_start_over_the_open_file_and_save_as_the_same_file(tmp_path):
    path = tmp_path / "s.radcam-session"
    state = ReviewState()
    state.start(_session(), path, "Dr A")
    state.save_as(path)  # the same file: just a save
    state.start(_session(2), path, "Dr A")  # a new session replacing the open one's file
    assert len(read_session(path).entries) == 2
    state.close()
    assert not lock_path(path).exists()


def test_opening_the_open_session_again_reads_it_back(tmp_path):
    path = tmp_path / "s.radcam-session"
    state = ReviewState()
    state.start(_session(), path, "Dr A")
    state.record("nodule", "agree")
    again = state.open(path, "Dr A")
    assert again.entry("1").findings["nodule"].verdict == "agree" and state.file is not None
    state.close()
    assert not lock_path(path).exists()


def test_verdicts_carry_the_name_of_the_reader_who_gave_them(tmp_path):
    """A session prepared for one reader (`session new --reader`) and opened by another: the file keeps its
    reader, and each verdict names who actually gave it."""
    path = tmp_path / "s.radcam-session"
    first = ReviewState()
    first.start(_session(), path, "Dr A")
    first.record("nodule", "agree")
    first.close()
    second = ReviewState()
    second.open(path, "Dr B")
    second.current = "1"
    second.record("effusion", "disagree")
    second.note("nodule", "seen")
    second.close()
    saved = _on_disk(path)
    found = saved["entries"][0]["findings"]
    assert saved["reader"] == "Dr A"
    assert (found["nodule"]["reader"], found["effusion"]["reader"]) == ("Dr B", "Dr B")
