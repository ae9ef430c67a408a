"""viewer.export: atomic writes, images, DICOM Secondary Capture, anonymisation, sidecars."""

import errno
import json
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import FIXTURES, needs_fixtures
from PIL import Image
from pydicom import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import viewer
from viewer.errors import ExportError
from viewer.export import (
    AnonymizationSession,
    anonymize_dataset,
    anonymize_metadata,
    atomic_write,
    header_text,
    save_image,
    write_secondary_capture,
    write_sidecar,
)
from viewer.export.profile import action_for, profile_size

NIH_DX = FIXTURES / "dicom" / "dx_chest_nih_uncompressed.dcm"

RGB = np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)
GREY = np.random.default_rng(1).integers(0, 256, (60, 90), dtype=np.uint8)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# atomic_write --------------------------------------------------------------------------------------------------

def test_atomic_write_writes_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write(target, lambda p: p.write_text("one"))
    with pytest.raises(ExportError, match="exists; use --overwrite"):
        atomic_write(target, lambda p: p.write_text("two"))
    assert target.read_text() == "one"
    atomic_write(target, lambda p: p.write_text("two"), overwrite=True)
    assert target.read_text() == "two"
    assert _leftovers(tmp_path) == []


def test_atomic_write_leaves_nothing_when_the_writer_raises(tmp_path):
    target = tmp_path / "a.png"

    def half_then_fail(p):
        p.write_bytes(b"partial")
        raise RuntimeError("encoder bug")

    with pytest.raises(RuntimeError):
        atomic_write(target, half_then_fail)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_while_writing_is_an_export_error_and_no_file(tmp_path):
    def disk_full(p):
        p.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(ExportError, match="No space left"):
        atomic_write(tmp_path / "a.dcm", disk_full)
    assert list(tmp_path.iterdir()) == []


def test_failing_rename_is_an_export_error_and_no_file(tmp_path, monkeypatch):
    def refuse(*_):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ExportError, match="Read-only"):
        save_image(tmp_path / "a.png", GREY)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_simulated(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ExportError, match="Permission denied"):
        atomic_write(tmp_path / "a.json", lambda p: p.write_text("{}"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_is_an_export_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="cannot write"):
            save_image(folder / "a.png", GREY)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_missing_folder_is_an_export_error(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        save_image(tmp_path / "nope" / "a.png", GREY)


# images --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff", ".PNG"])
@pytest.mark.parametrize("pixels", [RGB, GREY], ids=["rgb", "grey"])
def test_lossless_images_round_trip_exactly(tmp_path, suffix, pixels):
    path = save_image(tmp_path / f"a{suffix}", pixels)
    assert np.array_equal(np.asarray(Image.open(path)), pixels)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_is_full_size_and_close(tmp_path, suffix):
    smooth = np.dstack([np.tile(np.arange(90, dtype=np.uint8), (60, 1))] * 3)
    path = save_image(tmp_path / f"a{suffix}", smooth)
    back = np.asarray(Image.open(path))
    assert back.shape == smooth.shape
    assert np.abs(back.astype(int) - smooth).max() <= 3  # quality 95


def test_unknown_extension_and_bad_arrays(tmp_path):
    with pytest.raises(ExportError, match="unknown image type"):
        save_image(tmp_path / "a.bmp", GREY)
    with pytest.raises(ExportError, match="uint8"):
        save_image(tmp_path / "a.png", GREY.astype(np.float32))
    assert list(tmp_path.iterdir()) == []


def test_save_image_refuses_existing_file(tmp_path):
    save_image(tmp_path / "a.png", GREY)
    with pytest.raises(ExportError, match="exists"):
        save_image(tmp_path / "a.png", RGB)
    save_image(tmp_path / "a.png", RGB, overwrite=True)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), RGB)


# DICOM Secondary Capture ---------------------------------------------------------------------------------------

# Every attribute the generated source carries that Annex E de-identifies, with a value.
IDENTIFYING = {
    "PatientName": "Doe^John", "PatientID": "MRN-123456", "PatientBirthDate": "19610412", "PatientSex": "M",
    "PatientAge": "063Y", "PatientAddress": "1 Main St, Springfield", "OtherPatientIDs": "OLD-99",
    "OtherPatientNames": "Roe^Johnny", "PatientTelephoneNumbers": "555-0100", "PatientComments": "VIP",
    "PatientBirthName": "Smith^John", "PatientMotherBirthName": "Jones^Mary", "EthnicGroup": "X",
    "InstitutionName": "St Elsewhere", "InstitutionAddress": "2 Hospital Rd", "StationName": "XR-ROOM-3",
    "InstitutionalDepartmentName": "Radiology", "ReferringPhysicianName": "House^Gregory",
    "PerformingPhysicianName": "Wilson^James", "OperatorsName": "Tech^Tina", "NameOfPhysiciansReadingStudy": "Cuddy^L",
    "AccessionNumber": "ACC777", "StudyID": "S42", "StudyDate": "20240102", "StudyTime": "101500",
    "SeriesDate": "20240102", "SeriesTime": "101600", "AcquisitionDate": "20240102", "AcquisitionTime": "101700",
    "ContentDate": "20240102", "ContentTime": "101800", "AcquisitionDateTime": "20240102101700",
    "InstanceCreationDate": "20240102", "StudyDescription": "CHEST PA Doe", "SeriesDescription": "PA Doe",
    "DeviceSerialNumber": "SN-0001", "ProtocolName": "Chest John Doe", "ImageComments": "call Dr House",
    "RequestingPhysician": "Chase^R", "AdmissionID": "ADM1", "PatientWeight": "80", "PatientSize": "1.8",
}


def _source(**extra) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = "DX"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["P", "F"]
    for keyword, value in {**IDENTIFYING, **extra}.items():
        setattr(ds, keyword, value)
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "Doe^John secret")
    ds.set_pixel_data(GREY, "MONOCHROME2", 8, generate_instance_uid=False)
    return ds


def _check_derived(back: Dataset, source: Dataset, pixels: np.ndarray):
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    assert back.SeriesInstanceUID != source.SeriesInstanceUID
    assert back.SOPInstanceUID != source.SOPInstanceUID
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    assert list(back.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert back.BurnedInAnnotation == "YES"
    assert back.ConversionType == "WSD"
    assert back.Manufacturer == "RadCAM" and viewer.__version__ in back.SoftwareVersions
    assert back.PhotometricInterpretation == ("RGB" if pixels.ndim == 3 else "MONOCHROME2")
    assert np.array_equal(back.pixel_array, pixels)


@pytest.mark.parametrize("pixels", [RGB, GREY], ids=["rgb", "grey"])
def test_sc_from_generated_source_keeps_patient_and_study(tmp_path, pixels):
    source = _source()
    write_secondary_capture(tmp_path / "sc.dcm", pixels, source, "RadCAM Grad-CAM overlay · nodule 0.93")
    back = pydicom.dcmread(tmp_path / "sc.dcm")
    _check_derived(back, source, pixels)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                    "AccessionNumber", "StudyID", "StudyDate", "StudyTime"):
        assert back[keyword].value == source[keyword].value, keyword
    assert back.SeriesDescription == "RadCAM Grad-CAM overlay · nodule 0.93"
    reference = back.SourceImageSequence[0]
    assert reference.ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert reference.ReferencedSOPClassUID == source.SOPClassUID
    assert list(back.PatientOrientation) == ["P", "F"]
    assert not any(elem.tag.is_private for elem in back)
    assert "PatientIdentityRemoved" not in back


@needs_fixtures
def test_sc_from_the_nih_fixture(tmp_path):
    source = pydicom.dcmread(NIH_DX)
    sc = write_secondary_capture(tmp_path / "sc.dcm", RGB, source, "RadCAM Grad-CAM overlay", series_number=77)
    back = pydicom.dcmread(tmp_path / "sc.dcm")
    _check_derived(back, source, RGB)
    assert back.PatientName == source.PatientName and back.PatientID == source.PatientID
    assert back.StudyInstanceUID == source.StudyInstanceUID
    assert back.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert back.SeriesNumber == 77 and sc.SOPInstanceUID == back.SOPInstanceUID


@needs_fixtures
def test_anonymized_sc_from_the_nih_fixture(tmp_path):
    source = pydicom.dcmread(NIH_DX)
    write_secondary_capture(tmp_path / "sc.dcm", GREY, source, "RadCAM Grad-CAM overlay", anonymize=True,
                            session=AnonymizationSession())
    back = pydicom.dcmread(tmp_path / "sc.dcm")
    _check_derived(back, source, GREY)
    text = (tmp_path / "sc.dcm").read_bytes()
    assert b"Covid0000" not in text and source.StudyInstanceUID.encode() not in text
    assert back.PatientName == "ANONYMOUS" and back.PatientIdentityRemoved == "YES"
    assert "PatientAge" not in back and not back.PatientSex


def test_anonymized_sc_removes_or_replaces_every_annex_e_attribute(tmp_path):
    source = _source()
    session = AnonymizationSession()
    write_secondary_capture(tmp_path / "sc.dcm", RGB, source, "RadCAM Grad-CAM overlay", anonymize=True,
                            session=session)
    back = pydicom.dcmread(tmp_path / "sc.dcm")
    _check_derived(back, source, RGB)
    for keyword, value in IDENTIFYING.items():
        if keyword in ("PatientName", "PatientID"):
            assert back[keyword].value not in ("", value), keyword
        elif keyword == "SeriesDescription":  # RadCAM's own description of the derived series
            assert back.SeriesDescription == "RadCAM Grad-CAM overlay"
        else:
            assert keyword not in back or back[keyword].value in (None, ""), f"{keyword} = {back[keyword].value!r}"
    assert back.PatientName == "ANONYMOUS" and back.PatientID.startswith("RADCAM-")
    assert back.PatientIdentityRemoved == "YES" and back.DeidentificationMethod
    assert back.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert back[keyword].value != source[keyword].value
    # the reference still links to the (anonymized) source, through the session's mapping
    assert back.SourceImageSequence[0].ReferencedSOPInstanceUID == session.uid(source.SOPInstanceUID)
    assert back.StudyInstanceUID == session.uid(source.StudyInstanceUID)
    raw = (tmp_path / "sc.dcm").read_bytes()
    for secret in (b"Doe", b"MRN-123456", b"19610412", b"St Elsewhere", b"ACC777", source.SOPInstanceUID.encode()):
        assert secret not in raw, secret
    assert not any(elem.tag.is_private for elem in back)


def test_one_session_maps_the_same_study_to_the_same_new_study(tmp_path):
    source, session = _source(), AnonymizationSession()
    for name in ("a.dcm", "b.dcm"):
        write_secondary_capture(tmp_path / name, GREY, source, "x", anonymize=True, session=session)
    a, b = (pydicom.dcmread(tmp_path / name) for name in ("a.dcm", "b.dcm"))
    assert a.StudyInstanceUID == b.StudyInstanceUID != source.StudyInstanceUID
    assert a.PatientID == b.PatientID
    assert a.SOPInstanceUID != b.SOPInstanceUID
    write_secondary_capture(tmp_path / "c.dcm", GREY, source, "x", anonymize=True, session=AnonymizationSession())
    assert pydicom.dcmread(tmp_path / "c.dcm").StudyInstanceUID != a.StudyInstanceUID  # another session


def test_sc_without_a_dicom_source(tmp_path):
    write_secondary_capture(tmp_path / "a.dcm", RGB, None, "RadCAM heatmap")
    write_secondary_capture(tmp_path / "b.dcm", RGB, None, "RadCAM heatmap", anonymize=True)
    a, b = (pydicom.dcmread(tmp_path / name) for name in ("a.dcm", "b.dcm"))
    assert a.StudyInstanceUID != b.StudyInstanceUID
    assert a.PatientName == "" and b.PatientName == "ANONYMOUS"
    assert "SourceImageSequence" not in a
    assert np.array_equal(a.pixel_array, RGB)


def test_sc_refuses_existing_file_and_bad_pixels(tmp_path):
    write_secondary_capture(tmp_path / "a.dcm", GREY, _source(), "x")
    with pytest.raises(ExportError, match="exists"):
        write_secondary_capture(tmp_path / "a.dcm", GREY, _source(), "x")
    write_secondary_capture(tmp_path / "a.dcm", RGB, _source(), "x", overwrite=True)
    with pytest.raises(ExportError, match="uint8"):
        write_secondary_capture(tmp_path / "b.dcm", GREY.astype(np.uint16), _source(), "x")


# anonymize_dataset ---------------------------------------------------------------------------------------------

def test_the_profile_is_the_standard_table_not_a_hand_typed_list():
    assert profile_size() > 600  # PS3.15 Table E.1-1 names several hundred attributes
    tag = pydicom.datadict.tag_for_keyword
    assert action_for(tag("ConsultingPhysicianName")) == "Z" and action_for(tag("TextComments")) == "X"
    assert action_for(tag("StudyInstanceUID")) == "U" and action_for(tag("Manufacturer")) is None


def test_anonymize_dataset_copies_recurses_and_is_idempotent():
    source = _source()
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = generate_uid()
    item.InstitutionName = "Nested Hospital"
    source.ReferencedImageSequence = [item]
    session = AnonymizationSession()
    once = anonymize_dataset(source, session)
    assert source.PatientName == "Doe^John"  # the input is untouched
    nested = once.ReferencedImageSequence[0]
    assert "InstitutionName" not in nested
    assert nested.ReferencedSOPClassUID == source.SOPClassUID  # registered UIDs stay
    referenced = item.ReferencedSOPInstanceUID
    assert nested.ReferencedSOPInstanceUID == session.uid(referenced) != referenced
    assert once.FrameOfReferenceUID != source.FrameOfReferenceUID
    twice = anonymize_dataset(once, session)
    for keyword in ("StudyInstanceUID", "SOPInstanceUID", "PatientID", "FrameOfReferenceUID"):
        assert twice[keyword].value == once[keyword].value


# metadata, header text, sidecar --------------------------------------------------------------------------------

METADATA = {"patient": {"name": "Doe^John", "id": "MRN-123456", "sex": "M", "age": "063Y",
                        "birth_date": "19610412"},
            "study_date": "20240102", "study_description": "CHEST PA Doe", "modality": "DX", "view_position": "PA",
            "body_part": "CHEST", "institution": "St Elsewhere", "study_uid": "1.2.3", "rows": 60, "columns": 90}


def test_anonymize_metadata_drops_patient_data_everywhere():
    record = {"source": {"path": "/data/Doe_John/MRN-123456.dcm", "frame": 0, "metadata": METADATA},
              "notes": ["Doe^John looked fine"], "threshold": 0.5}
    clean = anonymize_metadata(record)
    text = json.dumps(clean)
    for secret in ("Doe", "John", "MRN-123456", "19610412", "St Elsewhere", "20240102", "1.2.3"):
        assert secret not in text, secret
    assert clean["source"]["frame"] == 0 and clean["source"]["metadata"]["rows"] == 60
    assert clean["threshold"] == 0.5 and record["source"]["metadata"]["patient"]["name"] == "Doe^John"


def test_header_text_with_and_without_patient_data():
    full = header_text(METADATA)
    assert "Doe John" in full and "MRN-123456" in full and "2024-01-02" in full
    anonymous = header_text(METADATA, anonymize=True)
    assert anonymous == "ANONYMOUS · DX PA CHEST"


RECORD = {"source": "/data/Doe_John.dcm", "frame": 0, "model": "demo.keras", "method": "gradcam",
          "layer": "conv5", "target": {"index": 1, "name": "nodule"}, "threshold": np.float32(0.5),
          "scores": [{"index": 1, "name": "nodule", "score": np.float64(0.93)}], "metadata": METADATA}


def test_sidecar_round_trip(tmp_path):
    path = write_sidecar(tmp_path / "a.json", RECORD)
    text = path.read_text(encoding="utf-8")
    back = json.loads(text)
    assert back["method"] == "gradcam" and back["layer"] == "conv5" and back["target"]["name"] == "nodule"
    assert back["scores"][0]["score"] == pytest.approx(0.93) and back["threshold"] == 0.5
    assert back["software"] == {"name": "RadCAM", "version": viewer.__version__}
    assert back["time"].endswith("+00:00")
    assert text.startswith('{\n  "') and list(back) == sorted(back)
    with pytest.raises(ExportError, match="exists"):
        write_sidecar(tmp_path / "a.json", RECORD)
    write_sidecar(tmp_path / "a.json", {"method": "x"}, overwrite=True)
    assert json.loads(path.read_text())["method"] == "x"


def test_anonymized_sidecar_has_no_patient_data(tmp_path):
    text = write_sidecar(tmp_path / "a.json", RECORD, anonymize=True).read_text(encoding="utf-8")
    for secret in ("Doe", "John", "MRN-123456", "19610412", "1961"):
        assert secret not in text, secret
    back = json.loads(text)
    assert back["anonymized"] is True and back["method"] == "gradcam" and back["source"] == "ANONYMIZED"


@needs_fixtures
@pytest.mark.parametrize("name",
                         sorted(p.name for p in (FIXTURES / "dicom").glob("*.dcm")) if FIXTURES.is_dir() else [])
def test_anonymized_sc_from_every_fixture_drops_the_patient(tmp_path, name):
    source = pydicom.dcmread(FIXTURES / "dicom" / name, force=True)
    write_secondary_capture(tmp_path / "sc.dcm", RGB, source, "RadCAM overlay", anonymize=True)
    back = pydicom.dcmread(tmp_path / "sc.dcm")
    raw = (tmp_path / "sc.dcm").read_bytes()
    for keyword in ("PatientID", "StudyInstanceUID", "SOPInstanceUID"):
        value = str(source.get(keyword) or "")
        if len(value) > 3:
            assert value.encode() not in raw, keyword
    assert back.PatientName == "ANONYMOUS" and back.PatientIdentityRemoved == "YES"
    assert np.array_equal(back.pixel_array, RGB)


@pytest.mark.parametrize(("keyword", "vr", "value", "named"), [
    ("PatientSex", "CS", "MALE", "Patient's Sex"),  # common in real archives; DICOM allows M, F, O
    ("PatientBirthDate", "DA", "1961-07-04", "Patient's Birth Date"),
    ("StudyTime", "TM", "25:61", "Study Time"),
])
def test_sc_from_a_source_whose_copied_values_are_not_valid_dicom_is_a_one_line_export_error(
        tmp_path, keyword, vr, value, named):
    """highdicom refuses them with a ValueError that quotes the value: it reached the CLI as an internal error (exit
    1) that printed the patient's birth date. An ExportError names the attribute, never its value."""
    source = _source()
    element = pydicom.DataElement(keyword, vr, "")
    element._value = value  # as read from such a file (pydicom keeps what it cannot convert)
    source[element.tag] = element
    with pytest.raises(ExportError) as error:
        write_secondary_capture(tmp_path / "sc.dcm", GREY, source, "RadCAM overlay")
    message = str(error.value)
    assert named in message and value not in message and "sc.dcm" in message
    assert list(tmp_path.iterdir()) == []
    write_secondary_capture(tmp_path / "anonymous.dcm", GREY, source, "RadCAM overlay", anonymize=True)  # emptied
