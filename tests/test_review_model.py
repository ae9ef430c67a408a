"""The review session's record (viewer.app.review) and the worklist built from opened studies (viewer.app.worklist)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_dicom
from PIL import Image

from viewer.app.review import Mark, ReviewSession, SchemaError, SessionModel
from viewer.app.worklist import entries_from, extend, image_key
from viewer.io import load


def _folder(tmp_path, pngs=3):
    for number in range(pngs):
        Image.fromarray(np.full((8, 8), number * 40, np.uint8)).save(tmp_path / f"p{number}.png")
    pixels = np.zeros((2, 6, 6), np.uint8)
    write_dicom(tmp_path / "multi.dcm", pixels, NumberOfFrames=2, ViewPosition="PA", Modality="DX",
                PatientName="Doe^Jane")
    return tmp_path


def test_one_entry_per_image_or_frame_never_per_tree_level(tmp_path):
    entries = entries_from(load([_folder(tmp_path)]))
    assert len(entries) == 3 + 2  # three PNGs and two frames
    dicom = [e for e in entries if e.kind == "dicom"]
    assert [e.frame for e in dicom] == [0, 1]
    assert dicom[0].view == "PA" and dicom[0].modality == "DX" and dicom[0].patient_name == "Doe Jane"
    assert dicom[0].sop_instance_uid and dicom[0].study_date == "20240101"
    assert [e.id for e in entries] == ["1", "2", "3", "4", "5"]
    assert image_key(dicom[0]) != image_key(dicom[1])


def test_extend_adds_only_new_images_with_fresh_ids(tmp_path):
    folder = _folder(tmp_path)
    session = ReviewSession(entries_from(load([folder / "p0.png"])))
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "new.png")
    added = extend(session, load([folder]))
    assert len(session.entries) == 6 and len(added) == 5
    assert len({e.id for e in session.entries}) == 6


def test_verdicts_round_trip_and_drive_review_progress(tmp_path):
    session = ReviewSession(entries_from(load([_folder(tmp_path)])), SessionModel("m.keras", "0" * 64,
                            labels=("nodule", "consolidation"), thresholds={"nodule": 0.3}), reader="Dr A")
    assert session.first_unreviewed().id == "1"
    session.set_verdict("1", "nodule", "agree", note="clear", mark=Mark(3, 4, 2, 2))
    assert not session.entry("1").reviewed(session.labels)
    session.set_verdict("1", "consolidation", "disagree")
    assert session.entry("1").reviewed(session.labels) and session.progress() == (1, 5)
    assert session.first_unreviewed().id == "2"
    session.set_verdict("1", "nodule", "uncertain")  # note and mark are kept when only the verdict changes
    kept = session.entry("1").findings["nodule"]
    assert (kept.verdict, kept.note, kept.mark, kept.reader) == ("uncertain", "clear", Mark(3, 4, 2, 2), "Dr A")
    assert session.model.threshold("nodule") == 0.3 and session.model.threshold("consolidation") == 0.5
    text = json.dumps(session.to_dict())
    again = ReviewSession.from_dict(json.loads(text))
    assert again.to_dict() == session.to_dict()
    assert again.first_unreviewed(after="3", step=-1).id == "2"


@pytest.mark.parametrize(("change", "message"), [
    ({"format": "other"}, "not a RadCAM session"),
    ({"version": 99}, "schema version 99"),
    ({"entries": None}, "no worklist"),
])
def test_unreadable_sessions_say_why(change, message):
    data = {**ReviewSession([]).to_dict(), **change}
    with pytest.raises(SchemaError, match=message):
        ReviewSession.from_dict(data)


def test_a_bad_verdict_is_refused_in_words():
    data = ReviewSession([]).to_dict()
    data["entries"] = [{"id": "1", "path": "x.png", "findings": {"a": {"verdict": "maybe"}}}]
    with pytest.raises(SchemaError, match="'maybe' is not one of agree, disagree, uncertain"):
        ReviewSession.from_dict(data)


def test_a_file_pillow_only_identifies_is_skipped_not_listed(tmp_path):
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(600))
    result = load([tmp_path])
    assert not result.studies
    assert result.skipped and "HDF5 file, not an image" in result.skipped[0].reason


@pytest.mark.parametrize(("field", "value"), [("seconds", float("nan")), ("seconds", float("inf")),
                                              ("seconds", -5.0), ("predictions", {"a": float("nan")})])
def test_a_number_that_is_no_number_is_refused_in_words(field, value):
    # JSON from Python's json module may hold NaN and Infinity; a hand-edited NaN in seconds made the report's
    # round() raise, after the session had been accepted
    data = ReviewSession([]).to_dict()
    data["entries"] = [{"id": "1", "path": "x.png", field: value}]
    with pytest.raises(SchemaError, match=f"worklist entry 1: .*{field}"):
        ReviewSession.from_dict(json.loads(json.dumps(data)))
