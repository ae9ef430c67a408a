"""The shipped demo studies: synthetic, marked as such, and exactly what scripts/make_demo_studies.py writes."""

import json

import numpy as np
import pydicom
import pytest
from PIL import Image

from viewer.assets import resource_path
from viewer.demo import studies

DEMO = resource_path("demo")
DICOMS = [studies.CR_MONO2, studies.CR_MONO1]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    studies.write_demo_studies(out)
    return out


def test_shipped_files_exist():
    for name in [*DICOMS, studies.PNG_NAME, studies.LESIONS_JSON, "README.md"]:
        assert (DEMO / name).is_file(), name


@pytest.mark.parametrize("name", DICOMS)
def test_dicom_is_a_marked_synthetic_cr(name):
    ds = pydicom.dcmread(DEMO / name)
    assert ds.SOPClassUID == pydicom.uid.ComputedRadiographyImageStorage
    assert ds.Modality == "CR" and ds.ViewPosition == "PA" and ds.BodyPartExamined == "CHEST"
    assert str(ds.PatientName) == "DEMO^SYNTHETIC" and ds.PatientID == "RADCAM-DEMO-0001"
    assert ds.StudyDescription == "SYNTHETIC PHANTOM - NOT FOR DIAGNOSIS"
    assert "NOT FOR DIAGNOSIS" in ds.ImageComments and ds.BurnedInAnnotation == "NO"
    assert ds.InstitutionName == "RadCAM synthetic data" and ds.Manufacturer == "RadCAM phantom generator"
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (1024, 1024, 16, 12, 0)
    assert list(ds.WindowCenterWidthExplanation) == ["STANDARD", "BONE"]
    assert [float(v) for v in ds.PixelSpacing] == [0.35, 0.35]
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    pixels = ds.pixel_array
    assert pixels.dtype == np.uint16 and pixels.max() <= 4095


def test_mono1_is_the_inversion_of_mono2_in_the_same_study():
    mono2, mono1 = (pydicom.dcmread(DEMO / name) for name in DICOMS)
    assert mono2.PhotometricInterpretation == "MONOCHROME2" and mono1.PhotometricInterpretation == "MONOCHROME1"
    assert np.array_equal(mono1.pixel_array.astype(int), 4095 - mono2.pixel_array.astype(int))
    assert mono1.StudyInstanceUID == mono2.StudyInstanceUID
    assert mono1.SeriesInstanceUID != mono2.SeriesInstanceUID and mono1.SOPInstanceUID != mono2.SOPInstanceUID
    assert [4095 - float(c) for c in mono1.WindowCenter] == [float(c) for c in mono2.WindowCenter]
    assert list(mono1.WindowWidth) == list(mono2.WindowWidth)


def test_mono2_is_rle_compressed_and_mono1_uncompressed():
    assert pydicom.dcmread(DEMO / studies.CR_MONO2).file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
    assert pydicom.dcmread(DEMO / studies.CR_MONO1).file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian


@pytest.mark.parametrize("name", DICOMS)
def test_shipped_dicom_matches_a_fresh_regeneration(name, fresh):
    shipped, again = pydicom.dcmread(DEMO / name), pydicom.dcmread(fresh / name)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "WindowCenter", "WindowWidth"):
        assert shipped.get(keyword) == again.get(keyword), keyword
    assert np.array_equal(shipped.pixel_array, again.pixel_array)


def test_shipped_png_and_lesions_match_a_fresh_regeneration(fresh):
    shipped = np.asarray(Image.open(DEMO / studies.PNG_NAME))
    assert shipped.dtype == np.uint8 and shipped.ndim == 2
    assert np.array_equal(shipped, np.asarray(Image.open(fresh / studies.PNG_NAME)))
    assert "NOT FOR DIAGNOSIS" in Image.open(DEMO / studies.PNG_NAME).text["Description"]
    assert json.loads((DEMO / "lesions.json").read_text()) == json.loads((fresh / "lesions.json").read_text())


def test_lesions_json_boxes_point_at_bright_findings():
    findings = json.loads((DEMO / "lesions.json").read_text())
    mono2 = pydicom.dcmread(DEMO / studies.CR_MONO2).pixel_array.astype(float)
    png = np.asarray(Image.open(DEMO / studies.PNG_NAME)).astype(float)
    assert {lesion["kind"] for lesion in findings[studies.CR_MONO2]["lesions"]} == {"nodule", "consolidation"}
    assert [lesion["kind"] for lesion in findings[studies.PNG_NAME]["lesions"]] == ["nodule"]
    for name, pixels in ((studies.CR_MONO2, mono2), (studies.PNG_NAME, png)):
        assert findings[name]["size"] == list(pixels.shape)
        for lesion in findings[name]["lesions"]:
            x, y, w, h = lesion["box"]
            assert 0 <= x and 0 <= y and x + w <= pixels.shape[1] and y + h <= pixels.shape[0]
            centre = pixels[y + h // 3:y + 2 * h // 3, x + w // 3:x + 2 * w // 3].mean()
            beside = np.r_[pixels[y:y + h, max(0, x - w // 2):x].ravel(), pixels[y:y + h, x + w:x + w + w // 2].ravel()]
            assert centre > np.percentile(beside, 25), (name, lesion)


def test_readme_names_the_seeds_and_the_command():
    text = (DEMO / "README.md").read_text()
    assert "NOT for diagnosis" in text and "scripts/make_demo_studies.py" in text
    assert f"seed {studies.CR_SEED}" in text and f"seed {studies.PNG_SEED}" in text
