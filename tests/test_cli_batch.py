"""A batch survives its inputs: file names that are not UTF-8, a full disk half-way through an image's outputs, a bug
met on one image; and stderr carries only progress and error lines, never a library's warnings."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, assert_one_line_error, needs_fixtures, run_cli, write_dicom

LATIN1_NAME = b"M\xfcller.dcm"  # 'Müller.dcm' from an old Latin-1 archive: not valid UTF-8
SHOWN = "M\\xfcller"  # how RadCAM prints it: the byte that is not UTF-8 as \xNN


def _pixels(seed: int) -> np.ndarray:
    rows = np.linspace(0, 3000, 96)[:, None] + np.random.default_rng(seed).integers(0, 200, (96, 96))
    return rows.astype(np.uint16)


@pytest.fixture
def latin1_folder(tmp_path) -> Path:
    """a.dcm, b'M\\xfcller.dcm', z.dcm: the odd name sorts between two ordinary ones."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i, name in enumerate((b"a.dcm", LATIN1_NAME, b"z.dcm")):
        made = write_dicom(tmp_path / f"tmp{i}.dcm", _pixels(i), bits_stored=12, InstanceNumber=i + 1)
        os.rename(os.fsencode(made), os.fsencode(folder) + b"/" + name)
    return folder


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


# finding 10: names that are not UTF-8 ----------------------------------------------------------------------------

def test_explain_a_batch_with_a_latin1_file_name_explains_every_image(capsys, tmp_path, latin1_folder):
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "explain", latin1_folder, "--out", out)
    assert code == 0, err
    lines = _lines(stdout)
    assert len(lines) == 3
    odd = next(line for line in lines if SHOWN in line["image"])
    assert odd["image"].endswith(SHOWN + ".dcm")
    # the outputs keep the source's bytes in their names; the sidecar and the JSON line show them printably
    names = {os.fsencode(path.name) for path in out.iterdir()}
    assert b"M\xfcller_overlay.png" in names and b"M\xfcller.json" in names
    sidecar = json.loads((out / os.fsdecode(b"M\xfcller.json")).read_text(encoding="utf-8"))
    assert SHOWN in sidecar["source"] and f"{SHOWN}_overlay.png" in sidecar["files"]
    err.encode("utf-8")  # everything printed is encodable
    assert "internal error" not in err


def test_predict_csv_with_a_latin1_file_name(capsys, tmp_path, latin1_folder):
    target = tmp_path / "scores.csv"
    code, _out, err = run_cli(capsys, "predict", latin1_folder, "--csv", target)
    assert code == 0, err
    rows = list(csv.reader(target.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 4 and any(row[0].endswith(SHOWN + ".dcm") for row in rows[1:])


def test_a_latin1_name_given_directly_and_its_error_line(capsys, tmp_path, latin1_folder):
    broken = os.fsdecode(os.fsencode(tmp_path) + b"/br\xf6ken.dcm")
    Path(broken).write_bytes(b"DICM? not really")
    good = os.fsdecode(os.fsencode(latin1_folder) + b"/" + LATIN1_NAME)
    code, stdout, err = run_cli(capsys, "explain", good, broken, "--out", tmp_path / "out")
    assert code == 2  # one image failed: exit 2 after the batch, never 1
    assert len(_lines(stdout)) == 1
    assert "br\\xf6ken.dcm" in err and "internal error" not in err


def test_a_bug_met_on_one_image_does_not_stop_the_batch(capsys, tmp_path, latin1_folder, monkeypatch):
    from viewer.cam import CamEngine

    real = CamEngine.explain
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ZeroDivisionError("a bug")
        return real(self, *args, **kwargs)

    def batch_bug(self, *args, **kwargs):
        raise ZeroDivisionError("a bug in the batched pass")

    monkeypatch.setattr(CamEngine, "explain", flaky)
    # The chunk's batched pass meets a bug: each image is then explained alone, and only the bad one fails.
    monkeypatch.setattr(CamEngine, "explain_batch", batch_bug, raising=False)
    code, stdout, err = run_cli(capsys, "explain", latin1_folder, "--out", tmp_path / "out")
    assert len(_lines(stdout)) == 2  # the images after the failing one were explained
    errors = [line for line in err.splitlines() if line.startswith("radcam: error:")]
    assert len(errors) == 2 and "internal error: ZeroDivisionError" in errors[0]
    assert "Traceback" not in err and code == 1  # a bug is exit 1, said once the batch is done


# finding 13: all or nothing per image ------------------------------------------------------------------------------

def _no_leftovers(folder: Path) -> None:
    assert not [path.name for path in folder.iterdir() if path.name.startswith(".")]


def test_a_full_disk_half_way_leaves_nothing_and_a_rerun_works(capsys, tmp_path, monkeypatch):
    import viewer.export.images as images

    source = write_dicom(tmp_path / "study.dcm", _pixels(0), bits_stored=12)
    out = tmp_path / "out"
    real_save = images.write_png  # the PNG writer every panel goes through
    saved = []

    def full_disk(handle, *args, **kwargs):
        saved.append(handle)
        if len(saved) == 3:  # the third file: some bytes written, then the disk is full
            handle.write(b"\x89PNG partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(handle, *args, **kwargs)

    monkeypatch.setattr(images, "write_png", full_disk)
    code, stdout, err = run_cli(capsys, "explain", source, "--out", out)
    assert code == 2 and "No space left on device" in err and stdout == ""
    assert ".part" not in err  # the message names the file asked for, not its temporary
    assert list(out.iterdir()) == []  # neither the two panels written before nor any temporary
    monkeypatch.setattr(images, "write_png", real_save)
    code, stdout, err = run_cli(capsys, "explain", source, "--out", out)
    assert code == 0, err
    assert len(list(out.iterdir())) == 6
    _no_leftovers(out)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 300 KiB file system (needs root and mount; skipped elsewhere)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_real_full_tmpfs_leaves_no_partial_set(capsys, tmp_path, small_tmpfs):
    # 512 x 512 noise: each PNG panel is several hundred KiB, more than the file system holds
    pixels = np.random.default_rng(3).integers(0, 4096, (512, 512)).astype(np.uint16)
    source = write_dicom(tmp_path / "study.dcm", pixels, bits_stored=12)
    code, _stdout, err = run_cli(capsys, "explain", source, "--out", small_tmpfs)
    assert code == 2 and "No space left on device" in err
    assert list(small_tmpfs.iterdir()) == []
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_tmpfs)], check=True)  # room made
    code, _stdout, err = run_cli(capsys, "explain", source, "--out", small_tmpfs)
    assert code == 0, err  # the rerun is not refused for files a failed run left behind
    assert len(list(small_tmpfs.iterdir())) == 6
    _no_leftovers(small_tmpfs)


def test_staged_set_discards_on_error_and_commits_together(tmp_path):
    from viewer.errors import ExportError
    from viewer.export import StagedSet, save_image

    targets = [tmp_path / "a.png", tmp_path / "b.png"]
    with pytest.raises(ExportError, match="b.png"):
        with StagedSet(targets) as stage:
            save_image(stage.path(targets[0]), np.zeros((4, 4), np.uint8))
            save_image(stage.path(targets[1]), np.zeros((4, 4), np.float32))  # refused: not uint8
    assert list(tmp_path.iterdir()) == []
    with StagedSet(targets) as stage:
        for target in targets:
            save_image(stage.path(target), np.zeros((4, 4), np.uint8))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.png", "b.png"]
    with pytest.raises(ExportError, match="exist"):
        StagedSet(targets)


# finding 16: stderr carries no library warnings ---------------------------------------------------------------------

@needs_fixtures
def test_a_keras_warning_goes_to_the_log_not_stderr(capsys, tmp_path, caplog):
    model = FIXTURES / "models" / "am1codes_pneumonia_150.h5"  # a Sequential with input_shape: Keras warns
    image = write_dicom(tmp_path / "a.dcm", _pixels(0), bits_stored=12)
    argv = ["explain", image, "--out", tmp_path / "o", "--model", model, "--target", "no-such-target"]
    code, _out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.splitlines() == [line for line in err.splitlines() if line.startswith("radcam: ")], err
    assert "input_shape" in caplog.text and "radcam" in {record.name for record in caplog.records}
    log = tmp_path / "radcam.log"
    code, _out, err = run_cli(capsys, "--log", log, *argv)  # the log a user can keep
    assert code == 2 and "Warning" not in err
    assert "UserWarning: Do not pass an `input_shape`" in log.read_text(encoding="utf-8")


def test_stderr_of_a_real_process_has_only_radcam_lines(tmp_path):
    image = write_dicom(tmp_path / "a.dcm", _pixels(0), bits_stored=12)
    # as a user starts it: this test process set TF_CPP_MIN_LOG_LEVEL for itself (viewer.model.device)
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    model = FIXTURES / "models" / "am1codes_pneumonia_150.h5"  # Keras warns about its input_shape
    extra = ["--model", str(model)] if model.exists() else []
    argv = [sys.executable, "-m", "viewer.cli", "explain", str(image), "--out", str(tmp_path / "o"), *extra,
            "--target", f"no-such-{uuid.uuid4().hex[:6]}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if not line.startswith("radcam: ")] == [], done.stderr


def test_library_loggers_with_their_own_stderr_handlers_go_to_the_log(capsys, caplog, monkeypatch):
    import logging

    from viewer.cli import methods

    def chatty(args):
        logging.getLogger("tensorflow").warning("5 out of the last 5 calls triggered tf.function retracing")
        logging.getLogger("absl").warning("No training configuration found")
        return 0

    monkeypatch.setattr(methods, "run", chatty)
    handler = logging.StreamHandler(sys.stderr)  # as TensorFlow's get_logger() adds one
    logging.getLogger("tensorflow").addHandler(handler)
    try:
        code, _out, err = run_cli(capsys, "methods")
    finally:
        logging.getLogger("tensorflow").removeHandler(handler)
    assert code == 0 and err == ""
    assert "retracing" in caplog.text and "No training configuration" in caplog.text


def test_library_child_loggers_and_unlisted_libraries_go_to_the_log(capsys, monkeypatch, tmp_path):
    """highdicom logs on 'highdicom.base' (a child of a listed logger: the listed one's filter never sees it) and an
    unlisted library on its own logger; with no handler of their own, logging's last resort prints them on stderr."""
    import logging

    from viewer.cli import methods

    def chatty(args):
        logging.getLogger("highdicom.base").warning("Little endian encoding of attributes has been assumed.")
        logging.getLogger("some_unlisted_library").warning("an unlisted library speaks")
        return 0

    monkeypatch.setattr(methods, "run", chatty)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as in a real process (pytest adds its own here)
    log = tmp_path / "radcam.log"
    code, _out, err = run_cli(capsys, "--log", log, "methods")
    assert code == 0 and err == ""
    text = log.read_text(encoding="utf-8")
    assert "Little endian encoding" in text and "an unlisted library speaks" in text
    assert text.count("an unlisted library speaks") == 1  # forwarded once, not again through the root


def test_staged_set_whose_rename_fails_half_way_keeps_the_previous_set_whole(tmp_path, monkeypatch):
    """--overwrite over an earlier run's set: a rename that fails at the second file left the first file deleted and
    the rest from the earlier run (a set of neither run). The earlier set comes back whole."""
    from viewer.errors import ExportError
    from viewer.export import StagedSet

    targets = [tmp_path / f"{name}.txt" for name in ("a", "b", "c")]
    for target in targets:
        target.write_text("old")
    real, renames = os.replace, []

    def failing(source, destination):
        renames.append(destination)
        if Path(destination) == targets[1] and Path(source).name.endswith(".part.txt"):  # b's new file
            raise OSError(errno.EIO, "Input/output error")
        return real(source, destination)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(ExportError, match="b.txt"):
        with StagedSet(targets, overwrite=True) as stage:
            for target in targets:
                stage.path(target).write_text("new")
    assert [target.read_text() for target in targets] == ["old", "old", "old"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]  # no temporaries
    monkeypatch.setattr(os, "replace", real)
    with StagedSet(targets, overwrite=True) as stage:  # and the rerun replaces the set
        for target in targets:
            stage.path(target).write_text("new")
    assert [target.read_text() for target in targets] == ["new", "new", "new"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]


TERMINATED_HALF_WAY = """
import os, signal, sys
import viewer.export.explanation as explanation
from viewer.cli.main import main

real, calls = explanation.save_image, []

def save_then_terminated(path, pixels, **kwargs):
    real(path, pixels, **kwargs)
    calls.append(path)
    if len(calls) == 2:  # as `timeout` or a job scheduler ends a batch: SIGTERM half-way through an image's files
        os.kill(os.getpid(), signal.SIGTERM)

explanation.save_image = save_then_terminated
sys.exit(main(sys.argv[1:]))
"""


def test_a_batch_terminated_half_way_leaves_no_temporaries(tmp_path):
    """SIGTERM ended the process where it stood: the image's staged files stayed behind as hidden temporaries."""
    source = write_dicom(tmp_path / "study.dcm", _pixels(0), bits_stored=12)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", TERMINATED_HALF_WAY, "explain", str(source), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 143, done.stderr[-2000:]
    assert done.stderr.splitlines()[-1] == "radcam: error: terminated", done.stderr
    assert list(out.iterdir()) == []  # neither the set nor its temporaries


def test_control_characters_in_file_names_never_reach_the_terminal(capsys, tmp_path):
    """A name with an escape sequence ('\\x1b]0;...\\x07' retitles the terminal, '\\x1b[2J' clears it) or a newline
    (a forged 'radcam:' line): stderr shows such characters as \\xNN, as it shows bytes that are not UTF-8."""
    from viewer.cli.naming import Names
    from viewer.cli.paths import expand
    from viewer.export.names import printable

    folder = tmp_path / "in"
    folder.mkdir()
    write_dicom(folder / "a.dcm", _pixels(0), bits_stored=12)
    (folder / "x\x1b[2Jy.txt").write_text("not an image")
    (folder / "n\nradcam: forged.txt").write_text("not an image")
    assert len(expand([folder], Names())) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and all(line.startswith("radcam: skipped ") for line in err.splitlines()), err
    assert "x\\x1b[2Jy.txt" in err and "n\\x0aradcam: forged.txt" in err
    assert printable("M\udcfcller\x07.dcm") == "M\\xfcller\\x07.dcm" and printable("Müller\t.dcm") == "Müller\\x09.dcm"


def test_predict_refuses_a_csv_in_a_missing_folder_before_any_work(capsys, tmp_path):
    """Said first, as for an existing CSV: not after every image was scored (hours of a cluster's time)."""
    images = [write_dicom(tmp_path / f"{name}.dcm", _pixels(i), bits_stored=12) for i, name in enumerate("ab")]
    code, out, err = run_cli(capsys, "predict", *images, "--csv", tmp_path / "absent" / "scores.csv")
    assert_one_line_error(code, err)  # no image's progress line before it
    assert "absent" in err and out == ""
