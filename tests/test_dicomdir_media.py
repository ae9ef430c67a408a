"""DICOMDIR media as they arrive: copied by hand (lower-case names), with files missing, with odd file IDs."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
from conftest import run_cli, write_dicom, write_media
from pydicom import dcmread
from pydicom.uid import generate_uid

from viewer.errors import RadcamError
from viewer.io import load

IMAGES = 3


@pytest.fixture
def media(tmp_path):
    """A DICOMDIR written by pydicom: one study, three series of one image each (PT000000/ST000000/SE00000n)."""
    study = generate_uid()
    (tmp_path / "in").mkdir()
    for number in range(1, IMAGES + 1):
        write_dicom(tmp_path / "in" / f"{number}.dcm", np.full((4, 4), number, np.uint16), StudyInstanceUID=study,
                    InstanceNumber=number)
    return write_media(tmp_path / "in", tmp_path / "media")


def images(result):
    return [i.path for st in result.studies for s in st.series for i in s.instances]


def lower_case_everything(root):
    """What a hand copy from a CD often gives: every folder and file name below `root` in lower case."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in dirs + files:
            if name != "DICOMDIR":
                os.rename(os.path.join(folder, name), os.path.join(folder, name.lower()))


def test_lower_case_media_open_every_image(media):
    lower_case_everything(media)
    result = load([media / "DICOMDIR"])
    assert not result.skipped
    found = images(result)
    assert len(found) == IMAGES and all(p.is_file() and p.name == "im000000" for p in found)
    instances = [i for st in result.studies for s in st.series for i in s.instances]
    assert sorted(int(i.image().modality[0, 0]) for i in instances) == [1, 2, 3]


def test_a_folder_with_lower_case_media_lists_each_image_once(media):
    lower_case_everything(media)
    result = load([media])
    assert not result.skipped and len(images(result)) == IMAGES


def test_missing_referenced_files_are_skipped_with_their_reason(media):
    gone = next(media.rglob("SE000001")) / "IM000000"
    gone.unlink()
    result = load([media / "DICOMDIR"])
    assert len(images(result)) == IMAGES - 1
    (skipped,) = result.skipped
    assert skipped.path == gone
    assert skipped.reason == "listed in the DICOMDIR but missing: no IM000000 in PT000000/ST000000/SE000001"


def test_a_missing_folder_is_named(media):
    study_folder = next(media.rglob("ST000000"))
    for image in study_folder.rglob("IM*"):
        image.unlink()
    for series in sorted(study_folder.iterdir()):
        series.rmdir()
    study_folder.rmdir()
    result = load([media / "DICOMDIR"])
    assert not result.studies and len(result.skipped) == IMAGES
    assert {s.reason for s in result.skipped} == {"listed in the DICOMDIR but missing: no ST000000 in PT000000"}


def test_info_lists_what_the_dicomdir_references_but_the_media_lacks(media, capsys):
    for image in media.rglob("IM*"):
        image.unlink()
    code, out, err = run_cli(capsys, "info", media / "DICOMDIR")
    info = json.loads(out)
    assert info["studies"] == [] and len(info["skipped"]) == IMAGES
    assert all("listed in the DICOMDIR but missing" in s["reason"] for s in info["skipped"])


def test_explain_and_predict_inputs_name_each_missing_file(media, capsys):
    from viewer.cli.paths import expand

    gone = next(media.rglob("SE000002")) / "IM000000"
    gone.unlink()
    assert len(expand([media / "DICOMDIR"])) == IMAGES - 1
    assert capsys.readouterr().err.splitlines() == [
        f"radcam: skipped {gone}: listed in the DICOMDIR but missing: no IM000000 in PT000000/ST000000/SE000002"]
    for image in media.rglob("IM*"):
        image.unlink()
    with pytest.raises(RadcamError, match=f"no images found \\({IMAGES} file\\(s\\) skipped\\)"):
        expand([media / "DICOMDIR"])


def _set_file_ids(dicomdir, *file_ids):
    ds = dcmread(dicomdir)
    records = [r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom notes that such IDs are not valid CS values: that is the point
        for record, file_id in zip(records, file_ids, strict=False):
            record.ReferencedFileID = file_id
    ds.save_as(dicomdir)


def test_a_file_id_leaving_the_media_folder_is_refused(media, tmp_path):
    write_dicom(tmp_path / "outside.dcm", np.zeros((4, 4), np.uint16))
    _set_file_ids(media / "DICOMDIR", ["..", "outside.dcm"])
    result = load([media / "DICOMDIR"])
    assert len(images(result)) == IMAGES - 1
    (skipped,) = result.skipped
    assert skipped.reason == "listed in the DICOMDIR with a file ID that leaves the media folder: ../outside.dcm"


def test_two_names_differing_only_in_case_are_not_guessed_between(media):
    folder = next(media.rglob("SE000000"))
    (folder / "IM000000").rename(folder / "im000000")
    (folder / "Im000000").write_bytes((folder / "im000000").read_bytes())
    if len(list(folder.iterdir())) < 2:
        pytest.skip("this file system ignores letter case")
    result = load([media / "DICOMDIR"])
    (skipped,) = result.skipped
    assert skipped.reason == ("listed in the DICOMDIR but ambiguous: Im000000, im000000 in "
                              "PT000000/ST000000/SE000000 all match IM000000")


def test_iso9660_version_suffixes_are_matched(media):
    for image in list(media.rglob("IM000000")):
        image.rename(image.with_name("IM000000;1"))
    result = load([media / "DICOMDIR"])
    assert not result.skipped and len(images(result)) == IMAGES


def test_an_empty_dicomdir_says_so():
    from pydicom.data import get_testdata_file

    empty = get_testdata_file("DICOMDIR-empty.dcm")
    result = load([empty])
    assert not result.studies
    assert [(str(s.path), s.reason) for s in result.skipped] == [(empty, "a DICOMDIR that lists no files")]


def test_pydicom_media_all_open():
    """pydicom's own DICOMDIRs, including those with no offsets or reordered records, which FileSet needs."""
    from pydicom.data import get_testdata_file

    for name in ("DICOMDIR", "DICOMDIR-bigEnd", "DICOMDIR-implicit", "DICOMDIR-nooffset", "DICOMDIR-reordered"):
        result = load([get_testdata_file(name)])
        assert not result.skipped and len(images(result)) == 31, name


def test_a_missing_file_is_placed_in_the_folders_as_they_are_named_on_disk(media):
    lower_case_everything(media)
    next(media.rglob("se000001")).joinpath("im000000").unlink()
    (skipped,) = load([media / "DICOMDIR"]).skipped
    assert skipped.reason == "listed in the DICOMDIR but missing: no IM000000 in pt000000/st000000/se000001"
