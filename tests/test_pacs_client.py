"""What a PACS answers, read the same way over DIMSE and DICOMweb (viewer.pacs.client): an answer that leaves out
attributes, or gives them empty, multi-valued or unreadable, is a match with those fields empty, never an error."""

from __future__ import annotations

from pydicom import Dataset

from viewer.pacs.client import series_match, study_match


def test_a_study_answer_with_little_in_it():
    sparse = Dataset()
    sparse.StudyInstanceUID = "1.2.3"
    sparse.NumberOfStudyRelatedSeries = ""  # asked for, given empty (a PACS that does not count)
    match = study_match(sparse)
    assert match.study_uid == "1.2.3" and match.patient_name == "" and match.modalities == ()
    assert match.series_count is None and match.instance_count is None and match.study_date == ""


def test_multi_valued_and_unreadable_attributes():
    full = Dataset()
    full.StudyInstanceUID = "1.2.3"
    full.PatientName = "Doe^Jane"
    full.ModalitiesInStudy = ["CR", "PR"]
    full.NumberOfStudyRelatedInstances = "12"
    assert study_match(full).modalities == ("CR", "PR") and study_match(full).instance_count == 12
    assert study_match(full).patient_name == "Doe^Jane"
    from_json = Dataset.from_json({"00080061": {"vr": "CS", "Value": ["DX"]}, "0020000D": {"vr": "UI",
                                                                                          "Value": ["1.2"]}})
    assert study_match(from_json).modalities == ("DX",)
    series = Dataset()
    series.SeriesInstanceUID = "1.2.3.4"
    series.SeriesNumber = None
    series.add_new(0x00201209, "IS", None)  # Number of Series Related Instances, present but empty
    match = series_match("1.2.3", series)
    assert (match.series_uid, match.number, match.instance_count, match.modality) == ("1.2.3.4", None, None, "")
