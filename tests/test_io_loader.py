"""load(): folders and DICOMDIRs to studies, headers only, unusable files skipped with reasons."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_dicom, write_media
from PIL import Image
from pydicom.uid import generate_uid

from viewer.io import load

STUDY, SERIES_A, SERIES_B = generate_uid(), generate_uid(), generate_uid()


def _write_study(folder):
    (folder / "sub").mkdir(parents=True)
    common = {"StudyInstanceUID": STUDY, "StudyDescription": "CHEST", "PatientName": "Doe^Jane"}
    pixels = np.arange(16, dtype=np.uint16).reshape(4, 4)
    write_dicom(folder / "a2.dcm", pixels, SeriesInstanceUID=SERIES_A, SeriesNumber=1, InstanceNumber=2, **common)
    write_dicom(folder / "a1.dcm", pixels * 2, SeriesInstanceUID=SERIES_A, SeriesNumber=1, InstanceNumber=1,
                **common)
    write_dicom(folder / "sub" / "b1.dcm", pixels * 3,
                SeriesInstanceUID=SERIES_B, SeriesNumber=2, InstanceNumber=1, SeriesDescription="LAT", **common)
    return pixels


def test_folder_groups_by_study_and_series(tmp_path):
    pixels = _write_study(tmp_path)
    write_dicom(tmp_path / "report.dcm", None, Modality="SR", SOPClassUID="1.2.840.10008.5.1.4.1.1.88.11",
                StudyInstanceUID=STUDY)
    (tmp_path / "notes.txt").write_text("not an image\n" * 10)

    result = load([tmp_path])
    assert len(result.studies) == 1
    study = result.studies[0]
    assert (study.uid, study.description, study.date) == (STUDY, "CHEST", "20240101")
    assert study.patient["name"] == "Doe^Jane"
    assert [s.uid for s in study.series] == [SERIES_A, SERIES_B]
    assert [i.path.name for i in study.series[0].instances] == ["a1.dcm", "a2.dcm"]
    assert [i.instance_number for i in study.series[0].instances] == [1, 2]
    assert study.series[1].description == "LAT" and study.series[1].modality == "OT"
    assert np.array_equal(study.series[0].instances[1].image().modality, pixels)

    reasons = {s.path.name: s.reason for s in result.skipped}
    assert set(reasons) == {"report.dcm", "notes.txt"}
    assert reasons["report.dcm"] == "Basic Text SR Storage (SR): no pixel data"
    assert "not a DICOM file" in reasons["notes.txt"]
    assert study.summary()["series"][0]["instances"][0]["path"].endswith("a1.dcm")


def test_listing_reads_headers_only(tmp_path, monkeypatch):
    _write_study(tmp_path)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixel data decoded while listing")

    monkeypatch.setattr("viewer.io.dicom.pixel_array", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    result = load([tmp_path])
    assert sum(len(s.instances) for st in result.studies for s in st.series) == 4
    assert not result.skipped


def test_raster_files_are_one_study_each_and_bad_paths_are_skipped(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "one.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "two.jpg")
    (tmp_path / "empty.dcm").write_bytes(b"")
    result = load([tmp_path, tmp_path / "missing.dcm"])
    assert sorted(st.description for st in result.studies) == ["one.png", "two.jpg"]
    for study in result.studies:
        (series,) = study.series
        (instance,) = series.instances
        assert instance.kind == "image" and instance.frames == 1
        assert instance.image().render().shape[:2] == (8, 8)
    reasons = {s.path.name: s.reason for s in result.skipped}
    assert reasons == {"empty.dcm": "empty file (0 bytes)", "missing.dcm": "no such file"}


@pytest.fixture
def media(tmp_path):
    _write_study(tmp_path / "in")
    return write_media(tmp_path / "in", tmp_path / "media")


def test_dicomdir_opens_the_images_it_references(media):
    result = load([media / "DICOMDIR"])
    assert not result.skipped
    (study,) = result.studies
    assert [len(s.instances) for s in study.series] == [2, 1]
    assert [i.instance_number for i in study.series[0].instances] == [1, 2]
    for series in study.series:
        for instance in series.instances:
            assert instance.path.is_absolute() and instance.path.parent != media
            assert instance.image().render().shape == (4, 4)


def test_folder_with_a_dicomdir_lists_each_file_once(media):
    result = load([media])
    assert not result.skipped
    assert sum(len(s.instances) for st in result.studies for s in st.series) == 3


def test_native_output_on_fd2_is_captured_and_fd2_restored(capfd):
    import os

    from viewer.io.failures import native_stderr

    with native_stderr() as lines:
        os.write(2, b"openjpeg: error\n  decoding   failed\n")
    os.write(2, b"after\n")
    assert lines == ["openjpeg: error", "decoding failed"]
    assert capfd.readouterr().err == "after\n"  # nothing leaked, and fd 2 works again
