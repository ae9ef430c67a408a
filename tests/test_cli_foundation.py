"""The `radcam-cli info` / `view` contract and the exit-code contract (0 / 2 one line / 1)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, assert_one_line_error, needs_fixtures, run_cli
from PIL import Image

from viewer.io import open_image

INFO_KEYS = {"path", "kind", "modality", "photometric", "rows", "columns", "frames", "bits_stored",
             "transfer_syntax", "windows", "patient"}


def test_info_on_demo_study(capsys):
    code, out, err = run_cli(capsys, "info", "--demo")
    assert code == 0, err
    info = json.loads(out)
    assert INFO_KEYS <= info.keys()
    assert info["kind"] == "dicom"
    assert info["modality"] == "CR"
    assert info["frames"] == 1
    assert info["windows"] and all({"center", "width", "explanation"} <= w.keys() for w in info["windows"])
    assert info["windows"][-1]["explanation"] == "auto"
    assert "name" in info["patient"]


def test_view_writes_the_default_render(tmp_path, capsys):
    out_file = tmp_path / "demo.png"
    code, _, err = run_cli(capsys, "view", "--demo", "--out", out_file)
    assert code == 0, err
    from viewer.assets import demo_studies
    expected = open_image(demo_studies()[0]).render()
    written = np.asarray(Image.open(out_file))
    assert written.shape == expected.shape
    assert np.array_equal(written, expected)


def test_view_refuses_to_overwrite_without_the_flag(tmp_path, capsys):
    out_file = tmp_path / "demo.png"
    out_file.write_bytes(b"keep me")
    code, _, err = run_cli(capsys, "view", "--demo", "--out", out_file)
    assert_one_line_error(code, err)
    assert out_file.read_bytes() == b"keep me"
    code, _, err = run_cli(capsys, "view", "--demo", "--out", out_file, "--overwrite")
    assert code == 0, err
    assert Image.open(out_file).size[0] > 0


def test_view_with_an_explicit_window_changes_the_render(tmp_path, capsys):
    default_file, narrow_file = tmp_path / "a.png", tmp_path / "b.png"
    assert run_cli(capsys, "view", "--demo", "--out", default_file)[0] == 0
    info = json.loads(run_cli(capsys, "info", "--demo")[1])
    center = info["windows"][0]["center"]
    assert run_cli(capsys, "view", "--demo", "--out", narrow_file, "--window", f"{center},10")[0] == 0
    narrow = np.asarray(Image.open(narrow_file)).astype(int)
    # A 10-unit-wide window saturates almost every pixel to black or white.
    assert np.mean((narrow == 0) | (narrow == 255)) > 0.9
    assert not np.array_equal(narrow, np.asarray(Image.open(default_file)))


@pytest.mark.parametrize("argv, needle", [
    (["info", "/nonexistent/file.dcm"], "file.dcm"),
    (["view", "--demo", "--out", "x.png", "--window", "abc"], "CENTER,WIDTH"),
    (["view", "--demo", "--out", "x.png", "--window", "40,0"], "width"),
    (["view", "--demo", "--out", "x.png", "--window", "40,0.5"], "at least 1"),
    (["view", "--demo"], "--out"),
    (["bogus-command"], "bogus-command"),
    ([], "command"),
])
def test_bad_arguments_give_one_line_and_exit_2(capsys, monkeypatch, tmp_path, argv, needle):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err)
    assert needle in err
    assert out == ""


def test_bad_files_give_one_line_and_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    text = tmp_path / "notes.dcm"
    text.write_text("this is not a DICOM file\n" * 20)
    for path in (empty, text):
        code, _, err = run_cli(capsys, "info", path)
        assert_one_line_error(code, err)
        assert path.name in err
        code, _, err = run_cli(capsys, "view", path, "--out", tmp_path / "x.png")
        assert_one_line_error(code, err)
    assert not (tmp_path / "x.png").exists()


def test_frame_out_of_range_is_a_usage_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "view", "--demo", "--frame", "5", "--out", tmp_path / "x.png")
    assert_one_line_error(code, err)
    assert "frame" in err


def test_internal_errors_exit_1_with_one_line(monkeypatch, capsys):
    import viewer.cli.info as info_module

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(info_module, "open_image", broken)
    code, _, err = run_cli(capsys, "info", "--demo")
    assert code == 1
    assert err.strip().splitlines() == ["radcam: error: internal error: ZeroDivisionError: boom "
                                        "(run with --debug for the traceback)"]
    code, _, err = run_cli(capsys, "--debug", "info", "--demo")
    assert code == 1 and "Traceback" in err


@needs_fixtures
def test_info_on_real_fixtures(capsys):
    code, out, err = run_cli(capsys, "info", FIXTURES / "dicom" / "cr_chest_mono1_j2k.dcm")
    assert code == 0, err
    info = json.loads(out)
    assert info["photometric"] == "MONOCHROME1"
    assert info["inverted"] is True
    assert (info["rows"], info["columns"]) == (1955, 1841) or (info["columns"], info["rows"]) == (1955, 1841)
    assert "2.4.9" in json.dumps(info["transfer_syntax"])  # JPEG 2000
    assert any(w["center"] == 15000 and w["width"] == 30000 for w in info["windows"])

    code, out, err = run_cli(capsys, "info", FIXTURES / "dicom" / "mr_multiframe_rle.dcm")
    assert code == 0 and json.loads(out)["frames"] == 10

    code, _, err = run_cli(capsys, "info", FIXTURES / "dicom" / "sr_no_pixel_data.dcm")
    assert_one_line_error(code, err)
    assert "sr_no_pixel_data.dcm" in err


@needs_fixtures
def test_view_keeps_png_fixtures_unchanged(tmp_path, capsys):
    for source in sorted((FIXTURES / "images").glob("*.png")):
        target = tmp_path / source.name
        code, _, err = run_cli(capsys, "view", source, "--out", target)
        assert code == 0, err
        assert np.array_equal(np.asarray(Image.open(target)), np.asarray(Image.open(source))), source.name


def test_installed_console_script_follows_the_contract(tmp_path):
    script = shutil.which("radcam-cli") or str(Path(sys.executable).with_name("radcam-cli"))
    if not Path(script).exists():
        pytest.skip("radcam-cli is not installed in this environment")
    ok = subprocess.run([script, "info", "--demo"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["kind"] == "dicom"
    bad = subprocess.run([script, "info", str(tmp_path / "missing.dcm")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.startswith("radcam: error: ") and bad.stderr.count("\n") == 1


def test_the_shared_parser_and_error_line_of_radcam_and_radcam_cli(capsys):
    from viewer.command_line import ArgumentParser, report_error
    from viewer.errors import RadcamError, UsageError

    parser = ArgumentParser(prog="radcam-x")
    parser.add_argument("--n", type=int)
    with pytest.raises(UsageError) as caught:  # not argparse's usage text and SystemExit(2)
        parser.parse_args(["--n", "many"])
    assert isinstance(caught.value, RadcamError) and "--n" in str(caught.value)
    report_error("two\nlines \x1b[31m")
    assert capsys.readouterr().err == "radcam: error: two lines \\x1b[31m\n"
