"""The out-of-domain guard (issue 13, finding 17): a chest X-ray model must not score a CT slice, MR frames or a
test pattern without a word. The sidecar's `expects`, the pure check, the demo model's domain, the CLI."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from conftest import FIXTURES, assert_one_line_error, needs_fixtures, run_cli, write_dicom

from viewer.assets import demo_studies, resource_path
from viewer.errors import ModelError
from viewer.io import open_image
from viewer.model import default_model_path, read_sidecar
from viewer.model.domain import image_out_of_domain, is_colour_content, out_of_domain, validate_expects

CHEST = {"modalities": ["CR", "DX"], "body_parts": ["CHEST"], "view_positions": ["PA", "AP"],
         "min_size": (256, 256), "color": "grey"}
DEMO_PNG = resource_path("demo", "demo_nodule.png")


def meta(**values):
    """Metadata as viewer.io gives it for a PNG: size and photometric known, nothing else."""
    base = {"modality": None, "body_part": None, "view_position": None, "rows": 1024, "columns": 1024,
            "photometric": "MONOCHROME2"}
    return {**base, **values}


# ---- the pure check ----

def test_an_image_that_fits_or_says_nothing_is_in_domain():
    assert out_of_domain(meta(), CHEST) == []  # an NIH PNG: no modality, body part or view, and that is normal
    assert out_of_domain(meta(modality="DX"), CHEST) == []  # many real chest DICOMs lack BodyPartExamined
    assert out_of_domain(meta(modality="cr ", body_part="chest", view_position="ap", photometric="MONOCHROME1"),
                         CHEST) == []  # codes compared stripped, in upper case


@pytest.mark.parametrize("values, reason", [
    ({"modality": "CT"}, "modality CT (the model expects CR or DX)"),
    ({"body_part": "HEAD"}, "body part HEAD (the model expects CHEST)"),
    ({"view_position": "LL"}, "view position LL (the model expects PA or AP)"),
    ({"rows": 128, "columns": 128}, "image 128×128 pixels (the model expects at least 256×256)"),
    ({"rows": 2000, "columns": 200}, "image 2000×200 pixels (the model expects at least 256×256)"),
    ({"photometric": "RGB"}, "colour image, photometric RGB (the model expects grey)"),
    ({"photometric": "PALETTE COLOR"}, "colour image, photometric PALETTE COLOR (the model expects grey)"),
])
def test_each_reason_in_words(values, reason):
    assert out_of_domain(meta(**values), CHEST) == [reason]


def test_every_reason_is_listed():
    reasons = out_of_domain(meta(modality="MR", body_part="HEAD", rows=64, columns=64, photometric="RGB"), CHEST)
    assert [r.split(" (")[0] for r in reasons] == ["modality MR", "body part HEAD", "image 64×64 pixels",
                                                   "colour image, photometric RGB"]


@pytest.mark.parametrize("modality", ["CT", "MR", "PT", "NM", "US"])
def test_a_model_without_expects_still_gets_a_notice_for_cross_sectional_modalities(modality):
    (reason,) = out_of_domain(meta(modality=modality, rows=64, columns=64, photometric="RGB"), None)
    assert reason.startswith(f"modality {modality} is cross-sectional")
    # ... also when `expects` says other things but not the modalities
    assert len(out_of_domain(meta(modality=modality), {"min_size": (8, 8)})) == 1


@pytest.mark.parametrize("modality", ["CR", "DX", "MG", "OT", None])
def test_a_model_without_expects_says_nothing_about_projection_images(modality):
    assert out_of_domain(meta(modality=modality, rows=16, columns=16, photometric="RGB"), None) == []


def test_a_model_that_expects_ct_takes_ct_and_a_colour_model_wants_colour():
    assert out_of_domain(meta(modality="CT"), {"modalities": ["CT"]}) == []
    assert out_of_domain(meta(), {"color": "color"}) == ["grey image (the model expects colour)"]
    assert out_of_domain(meta(photometric="YBR_FULL_422"), {"color": "color"}) == []
    assert out_of_domain(meta(photometric="RGB"), {"color": "any"}) == []


def test_colour_is_judged_on_the_pixels_when_given():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (300, 400), dtype=np.uint8)
    as_rgb = np.repeat(grey[..., None], 3, axis=2)
    # A grey film saved as JPEG RGB: chroma noise of a few levels; a small red annotation.
    noisy = np.clip(as_rgb.astype(np.int16) + rng.integers(-6, 7, as_rgb.shape), 0, 255).astype(np.uint8)
    marked = as_rgb.copy()
    marked[10:20, 10:40] = (255, 0, 0)
    pattern = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    assert not is_colour_content(as_rgb) and not is_colour_content(noisy) and not is_colour_content(marked)
    assert is_colour_content(pattern)
    assert out_of_domain(meta(photometric="RGB"), CHEST, colour=False) == []


def test_grey_png_saved_as_rgb_stays_in_domain_and_a_colour_png_does_not(tmp_path):
    from PIL import Image

    grey = open_image(DEMO_PNG).render()
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(tmp_path / "rgb_chest.png")
    tinted = np.stack([grey, grey // 2, 255 - grey], axis=2)
    Image.fromarray(tinted).save(tmp_path / "tinted.png")
    assert image_out_of_domain(open_image(tmp_path / "rgb_chest.png"), CHEST) == []
    assert image_out_of_domain(open_image(tmp_path / "tinted.png"), CHEST) == [
        "colour image, photometric RGB (the model expects grey)"]


# ---- the sidecar's `expects` ----

def test_expects_is_normalised():
    assert validate_expects({"modalities": "cr", "body_parts": ["Chest"], "min_size": 256, "color": "Gray",
                             "view_positions": None}, "x") == {
        "modalities": ["CR"], "body_parts": ["CHEST"], "min_size": (256, 256), "color": "grey"}
    assert validate_expects({"color": "colour"}, "x") == {"color": "color"}


@pytest.mark.parametrize("expects, needle", [
    (["CR"], "'expects'"),
    ({"modality": ["CR"]}, "unknown key 'modality' in 'expects'"),
    ({"modalities": []}, "expects.modalities"),
    ({"modalities": [1]}, "expects.modalities"),
    ({"body_parts": [""]}, "expects.body_parts"),
    ({"min_size": [256]}, "expects.min_size"),
    ({"min_size": [0, 256]}, "expects.min_size"),
    ({"min_size": [True, 256]}, "expects.min_size"),
    ({"color": "sepia"}, "expects.color"),
])
def test_a_bad_expects_is_a_one_line_error_naming_the_sidecar(tmp_path, capsys, expects, needle):
    model = tmp_path / "m.keras"
    shutil.copy(default_model_path(), model)
    sidecar = json.loads((default_model_path().parent / (default_model_path().name + ".json")).read_text())
    (tmp_path / "m.keras.json").write_text(json.dumps({**sidecar, "expects": expects}))
    with pytest.raises(ModelError, match="m.keras.json") as caught:
        read_sidecar(model)
    assert needle in str(caught.value) and "\n" not in str(caught.value)
    if needle == "expects.color":  # and through the CLI: exit 2, one line (once: each run loads TensorFlow's model)
        code, out, err = run_cli(capsys, "predict", DEMO_PNG, "--model", model)
        assert_one_line_error(code, err)
        assert "expects.color" in err and out == ""


# ---- the demo model and real images ----

def test_the_demo_model_expects_grey_cr_or_dx_chests_and_its_studies_are_inside():
    expects = read_sidecar(default_model_path())["expects"]
    assert expects["modalities"] == ["CR", "DX"] and "CHEST" in expects["body_parts"] and expects["color"] == "grey"
    studies = demo_studies()
    assert studies
    for path in studies:
        assert image_out_of_domain(open_image(path), expects) == [], path.name


@needs_fixtures
def test_real_chests_are_inside_and_ct_mr_and_a_test_pattern_are_not():
    expects = read_sidecar(default_model_path())["expects"]
    dicom, images = FIXTURES / "dicom", FIXTURES / "images"
    chests = [dicom / name for name in ("cr_chest_mono1_j2k.dcm", "cr_chest_mono1_no_meta.dcm",
                                        "cr_chest_siim_jpeg_baseline.dcm", "dx_chest_nih_uncompressed.dcm")]
    chests += sorted(images.glob("nih_*.png"))
    assert len(chests) == 10
    for path in chests:
        assert image_out_of_domain(open_image(path), expects) == [], path.name
    outside = {name: image_out_of_domain(open_image(dicom / name), expects)
               for name in ("ct_small.dcm", "mr_multiframe_rle.dcm", "rgb_test_pattern.dcm")}
    assert outside == {
        "ct_small.dcm": ["modality CT (the model expects CR or DX)",
                         "image 128×128 pixels (the model expects at least 256×256)"],
        "mr_multiframe_rle.dcm": ["modality MR (the model expects CR or DX)",
                                  "body part HEAD (the model expects CHEST or THORAX)",
                                  "image 64×64 pixels (the model expects at least 256×256)"],
        "rgb_test_pattern.dcm": ["modality OT (the model expects CR or DX)",
                                 "colour image, photometric RGB (the model expects grey)"],
    }
    # A model that declares nothing: the CT and MR get the cross-sectional notice, the test pattern nothing.
    assert [len(image_out_of_domain(open_image(dicom / n), None)) for n in outside] == [1, 1, 0]


# ---- the CLI ----

@pytest.fixture
def ct(tmp_path):
    """A CT slice (generated: the check needs no fixtures): what a user may open by mistake."""
    pixels = (np.arange(256 * 256).reshape(256, 256) % 4000).astype(np.uint16)
    return write_dicom(tmp_path / "ct_slice.dcm", pixels, bits_stored=12, Modality="CT", BodyPartExamined="HEAD",
                       RescaleIntercept=-1024, RescaleSlope=1)


def test_explain_warns_and_records_out_of_domain_in_the_line_and_the_sidecar(capsys, tmp_path, ct):
    code, out, err = run_cli(capsys, "explain", ct, DEMO_PNG, "--out", tmp_path / "out")
    assert code == 0, err
    lines = {json.loads(line)["image"]: json.loads(line) for line in out.splitlines()}
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == [f"radcam: warning: {ct}: out of domain: modality CT (the model expects CR or DX); "
                        "body part HEAD (the model expects CHEST or THORAX)"]
    assert lines[str(ct)]["out_of_domain"] == ["modality CT (the model expects CR or DX)",
                                              "body part HEAD (the model expects CHEST or THORAX)"]
    assert lines[str(DEMO_PNG)]["out_of_domain"] == []
    assert json.loads((tmp_path / "out" / "ct_slice.json").read_text())["out_of_domain"] == lines[str(ct)][
        "out_of_domain"]
    assert json.loads((tmp_path / "out" / "demo_nodule.json").read_text())["out_of_domain"] == []


def test_strict_domain_is_a_per_image_error_and_the_batch_goes_on(capsys, tmp_path, ct):
    code, out, err = run_cli(capsys, "explain", ct, DEMO_PNG, "--out", tmp_path / "out", "--strict-domain")
    assert code == 2
    assert [json.loads(line)["image"] for line in out.splitlines()] == [str(DEMO_PNG)]
    errors = err.splitlines()
    assert errors[0] == (f"radcam: error: {ct}: out of domain: modality CT (the model expects CR or DX); "
                         "body part HEAD (the model expects CHEST or THORAX) (--strict-domain)")
    assert errors[-1].startswith("radcam: error: 1 of 2 images") and "Traceback" not in err
    assert not any(path.name.startswith("ct_slice") for path in (tmp_path / "out").iterdir())

    code, out, err = run_cli(capsys, "predict", ct, "--strict-domain")  # one image: its error is the command's
    assert_one_line_error(code, err)
    assert "out of domain" in err and out == ""


def test_predict_warns_and_has_an_out_of_domain_column(capsys, ct):
    code, out, err = run_cli(capsys, "predict", DEMO_PNG, ct)
    assert code == 0, err
    header, *rows = list(csv.reader(out.splitlines()))
    assert header == ["path", "nodule", "consolidation", "out_of_domain"]
    assert [row[0] for row in rows] == [str(DEMO_PNG), str(ct)]
    assert rows[0][3] == "" and rows[1][3].startswith("modality CT (the model expects CR or DX); body part HEAD")
    assert [line for line in err.splitlines() if "warning" in line] == [
        f"radcam: warning: {ct}: out of domain: {rows[1][3]}"]


def test_anonymous_explain_names_the_image_by_its_pseudonym_in_the_warning(capsys, tmp_path):
    folder = tmp_path / "DOE_JOHN"
    folder.mkdir()
    pixels = (np.arange(300 * 300).reshape(300, 300) % 4000).astype(np.uint16)
    study = write_dicom(folder / "DOE_JOHN_ct.dcm", pixels, bits_stored=12, Modality="CT")
    code, out, err = run_cli(capsys, "explain", study, "--out", tmp_path / "out", "--anonymize")
    assert code == 0, err
    assert "radcam: warning: radcam_001: out of domain: modality CT (the model expects CR or DX)" in err
    assert "DOE" not in err
    assert json.loads(out)["out_of_domain"] == ["modality CT (the model expects CR or DX)"]
