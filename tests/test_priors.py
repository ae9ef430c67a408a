"""Comparison with a prior (viewer.app.priors): the prior found from DICOM headers, and the score change."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_dicom
from pydicom.uid import generate_uid

from viewer.app.priors import ScoreChange, captions, days_between, prior_of, score_changes, study_day, why_none
from viewer.app.review import Entry
from viewer.app.worklist import entries_from
from viewer.io import load


def two_studies(folder, **extra):
    """Patient P1 with a 2023 and a 2024 PA study (plus a 2023-12 lateral and a later 2025 study), and a
    distractor patient P2 with an older study: the shapes a real worklist mixes."""
    pixels = np.zeros((8, 8), np.uint8)
    files = {
        "current": dict(PatientID="P1", StudyDate="20240101", ViewPosition="PA"),
        "prior": dict(PatientID="P1", StudyDate="20230101", ViewPosition="PA"),
        "lateral": dict(PatientID="P1", StudyDate="20231201", ViewPosition="LL"),
        "later": dict(PatientID="P1", StudyDate="20250101", ViewPosition="PA"),
        "other": dict(PatientID="P2", PatientName="Other^Patient", StudyDate="20220101", ViewPosition="PA"),
    }
    for name, attributes in files.items():
        write_dicom(folder / f"{name}.dcm", pixels,
                    **{"Modality": "CR", "StudyInstanceUID": generate_uid(), **attributes, **extra.get(name, {})})
    entries = entries_from(load([folder]))
    return {name: next(e for e in entries if e.path.endswith(f"{name}.dcm")) for name in files}, entries


def test_the_prior_is_the_earlier_study_of_the_same_patient_found_from_headers(tmp_path):
    found, entries = two_studies(tmp_path)
    assert len(entries) == 5
    assert prior_of(found["current"], entries) is found["prior"]  # the PA, not the more recent lateral
    assert prior_of(found["later"], entries) is found["current"]  # the most recent PA before 2025
    assert prior_of(found["prior"], entries) is None  # only later studies of P1, and P2 is someone else
    assert prior_of(found["other"], entries) is None
    assert why_none(found["prior"]) == "no earlier study of this patient is in the worklist"
    assert why_none(None) == "the image on screen is not in the worklist"
    assert days_between(found["current"], found["prior"]) == 365


def test_without_a_comparable_view_the_most_recent_earlier_study_is_the_prior(tmp_path):
    found, entries = two_studies(tmp_path, prior={"ViewPosition": "AP"})
    assert prior_of(found["current"], entries) is found["lateral"]  # neither is PA: the most recent wins


def test_same_modality_wins_over_same_view(tmp_path):
    found, entries = two_studies(tmp_path, prior={"Modality": "CT"}, lateral={"ViewPosition": "AP"})
    assert prior_of(found["current"], entries) is found["lateral"]


@pytest.mark.parametrize("change", [dict(patient_id=None), dict(patient_id="  "), dict(study_date=None),
                                    dict(study_date="2024"), dict(study_date="20241341")])
def test_no_patient_id_or_no_date_means_no_prior(change):
    prior = Entry("1", "a.dcm", patient_id="P1", study_date="20230101", study_uid="1.1")
    current = Entry("2", "b.dcm", patient_id="P1", study_date="20240101", study_uid="1.2")
    assert prior_of(current, [prior, current]) is prior
    for key, value in change.items():
        setattr(current, key, value)
    assert prior_of(current, [prior, current]) is None
    assert why_none(current) == ("the image has no Patient ID" if "patient_id" in change else
                                 "the image has no Study Date")


def test_the_same_study_is_never_its_own_prior():
    # a study whose images carry different dates (a study over midnight) is one study, not a prior
    first = Entry("1", "a.dcm", patient_id="P1", study_date="20230101", study_uid="1.1")
    second = Entry("2", "b.dcm", patient_id="P1", study_date="20230102", study_uid="1.1")
    assert prior_of(second, [first, second]) is None
    # an earlier entry without a patient ID or date is no candidate either
    assert prior_of(second, [Entry("3", "c.png", study_date="20200101"),
                             Entry("4", "d.dcm", patient_id="P1")]) is None


def test_study_day_reads_only_real_dicom_dates():
    assert study_day("20240229").isoformat() == "2024-02-29"
    assert [study_day(v) for v in ("20230229", "2024-01-01", "", None, "abcdefgh")] == [None] * 5


def test_score_change_text_prints_the_difference_of_the_printed_scores():
    assert ScoreChange("nodule", 0.42, 0.81).text() == "Nodule 0.42 → 0.81 (+0.39)"
    assert ScoreChange("effusion", 0.806, 0.424).text() == "Effusion 0.81 → 0.42 (-0.39)"
    assert ScoreChange("nodule", 0.5, 0.5).text() == "Nodule 0.50 → 0.50 (+0.00)"
    # 0.416 → 0.42 and 0.814 → 0.81: the difference printed is 0.39, not round(0.398) = 0.40
    assert ScoreChange("nodule", 0.416, 0.814).text().endswith("(+0.39)")


def test_score_changes_are_current_minus_prior_top_findings_first():
    current = {"nodule": 0.81, "consolidation": 0.10, "effusion": 0.05, "mass": 0.2}
    prior = {"nodule": 0.42, "consolidation": 0.90, "effusion": 0.04}
    changes = score_changes(current, prior, top=2)
    assert [(c.label, round(c.delta, 2)) for c in changes] == [("consolidation", -0.80), ("nodule", 0.39)]
    assert score_changes(current, None) == [] and score_changes(None, prior) == []


def test_captions_carry_dates_or_under_anonymisation_only_the_interval(tmp_path):
    found, _ = two_studies(tmp_path)
    current, prior = found["current"], found["prior"]
    assert captions(current, prior, anonymous=False) == ("Current · 2024-01-01",
                                                         "Prior · 2023-01-01 (365 days earlier)")
    shown = captions(current, prior, anonymous=True)
    assert shown == ("Current", "Prior (365 days earlier)")
    assert not any(part in " ".join(shown) for part in ("2023", "2024", "01-01"))
