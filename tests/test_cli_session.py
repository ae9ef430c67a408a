"""`radcam-cli session new`: a review session prepared headless, end to end on the demo model and real files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, assert_one_line_error, needs_fixtures, run_cli, write_dicom
from PIL import Image

from viewer.app.review_file import lock_path, read_session
from viewer.assets import demo_studies
from viewer.io import open_image
from viewer.model import default_model_path

MODEL = default_model_path()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def images(tmp_path):
    from viewer.demo.phantom import make_phantom

    folder = tmp_path / "images"
    folder.mkdir()
    for seed in range(6):
        Image.fromarray(make_phantom(seed, 256).display).save(folder / f"case{seed}.png")
    frames = np.random.default_rng(0).integers(0, 4000, (2, 64, 64), np.uint16)
    write_dicom(folder / "two_frames.dcm", frames, bits_stored=12, NumberOfFrames=2, Modality="DX",
                ViewPosition="PA", PatientName="Doe^Jane", PatientID="P7")
    (folder / "notes.txt").write_text("not an image")
    return folder


def new(capsys, *argv):
    return run_cli(capsys, "session", "new", *argv)


def test_session_new_writes_a_scored_worklist(capsys, images, tmp_path):
    out = tmp_path / "study.radcam-session"
    code, stdout, stderr = new(capsys, images, *demo_studies(), "--model", MODEL, "--out", out, "--reader", "dr a",
                               "--batch-size", "4")
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["entries"] == summary["scanned"] == 6 + 2 + len(demo_studies())
    assert summary["failed"] == 0 and summary["cached"] == 0 and summary["skipped"] == 1
    assert summary["model_calls"] == 3 and summary["seconds"] > 0
    assert "radcam: skipped" in stderr and "notes.txt" in stderr and f"[{summary['entries']}/" in stderr
    assert "Traceback" not in stderr

    session = read_session(out)
    assert not lock_path(out).exists()  # prepared, not held: the first reader to open it takes the lock
    assert session.reader == "dr a" and session.current == session.entries[0].id
    model = session.model
    assert model.path == str(MODEL) and model.sha256 == hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert model.labels == ("nodule", "consolidation") and model.thresholds == {"nodule": 0.5, "consolidation": 0.5}
    assert model.sidecar == json.loads(Path(str(MODEL) + ".json").read_text())
    assert (session.settings.method, session.settings.layer, session.settings.threshold) == \
        ("gradcam", "block4_relu", 0.4)
    frames = [entry for entry in session.entries if entry.path.endswith("two_frames.dcm")]
    assert [entry.frame for entry in frames] == [0, 1]
    assert frames[0].patient_id == "P7" and frames[0].view == "PA" and frames[0].modality == "DX"

    from viewer.model import load_model

    loaded = load_model(MODEL)
    for entry in session.entries:
        assert entry.sha256 == hashlib.sha256(Path(entry.path).read_bytes()).hexdigest()
        alone = loaded.predictions(open_image(entry.path, entry.frame).render())
        assert np.allclose([entry.predictions[row["name"]] for row in alone], [row["score"] for row in alone],
                           atol=1e-5)


def test_preparing_again_reads_the_cache(capsys, images, tmp_path, cache):
    out = tmp_path / "s.radcam-session"
    assert new(capsys, images, "--model", MODEL, "--out", out)[0] == 0
    assert list((cache / "predictions").glob("*.sqlite"))
    first = read_session(out)
    code, stdout, stderr = new(capsys, images, "--model", MODEL, "--out", out, "--overwrite")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["cached"] == 8 and summary["scanned"] == 0 and summary["model_calls"] == 0
    assert [entry.predictions for entry in read_session(out).entries] == [entry.predictions for entry in
                                                                          first.entries]
    code, stdout, _ = new(capsys, images, "--model", MODEL, "--out", out, "--overwrite", "--no-cache")
    assert json.loads(stdout)["scanned"] == 8


def test_the_suffix_is_added_and_a_method_alias_resolved(capsys, images, tmp_path):
    code, stdout, stderr = new(capsys, images / "case0.png", "--model", MODEL, "--out", tmp_path / "plain",
                               "--method", "Grad-CAM++", "--layer", "block3_relu", "--threshold", "0.6")
    assert code == 0, stderr
    session = read_session(tmp_path / "plain.radcam-session")
    assert (session.settings.method, session.settings.layer, session.settings.threshold) == \
        ("gradcampp", "block3_relu", 0.6)


def test_an_unreadable_image_is_listed_unscored(capsys, images, tmp_path):
    broken = images / "broken.png"
    broken.write_bytes((images / "case0.png").read_bytes()[:300])
    out = tmp_path / "s.radcam-session"
    code, stdout, stderr = new(capsys, images, "--model", MODEL, "--out", out)
    assert code == 0, stderr
    assert json.loads(stdout)["failed"] == 1
    assert sum("radcam: not scored: " in line and "broken.png" in line for line in stderr.splitlines()) == 1
    entries = {Path(entry.path).name: entry for entry in read_session(out).entries if entry.frame == 0}
    assert entries["broken.png"].predictions is None and entries["case0.png"].predictions


@pytest.mark.parametrize("problem", ["exists", "no model", "not a model", "no input", "no images", "no folder",
                                     "out is a folder", "method", "layer", "threshold", "batch", "no action"])
def test_bad_input_is_one_line(capsys, images, tmp_path, problem):
    out = tmp_path / "s.radcam-session"
    argv = [images, "--model", MODEL, "--out", out]
    if problem == "exists":
        out.write_text("keep me")
    elif problem == "no model":
        argv[2] = tmp_path / "missing.keras"
    elif problem == "not a model":
        argv[2] = images / "notes.txt"
    elif problem == "no input":
        argv[0] = tmp_path / "nowhere"
    elif problem == "no images":
        argv[0] = images / "notes.txt"
    elif problem == "no folder":
        argv[4] = tmp_path / "missing" / "s.radcam-session"
    elif problem == "out is a folder":
        argv[4] = tmp_path / "d.radcam-session"
        argv[4].mkdir()
    elif problem == "method":
        argv += ["--method", "gradcan"]
    elif problem == "layer":
        argv += ["--layer", "dense_9"]
    elif problem == "threshold":
        argv += ["--threshold", "2"]
    elif problem == "batch":
        argv += ["--batch-size", "0"]
    if problem == "no action":
        code, _out, err = run_cli(capsys, "session")
    else:
        code, _out, err = new(capsys, *argv)
    # the folder's notes.txt is named as skipped (not an error); the refusal is the one error line
    assert_one_line_error(code, "\n".join(line for line in err.splitlines() if not line.startswith("radcam: skipped")))
    if problem == "exists":
        assert out.read_text() == "keep me"
    elif problem != "out is a folder":
        assert not out.exists()


@needs_fixtures
def test_real_chest_files(capsys, tmp_path):
    out = tmp_path / "real.radcam-session"
    code, stdout, stderr = new(capsys, FIXTURES / "dicom", FIXTURES / "images", "--model", MODEL, "--out", out)
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["failed"] == 0 and summary["scanned"] == summary["entries"] >= 20
    assert all(entry.predictions for entry in read_session(out).entries)


def test_a_file_with_a_non_numeric_frame_count_is_one_frame(capsys, images, tmp_path):
    # pydicom's badVR.dcm: NumberOfFrames IS '1A', which pydicom hands back as text; the worklist crashed on it
    from pydicom.data import get_testdata_file

    (images / "badVR.dcm").write_bytes(Path(get_testdata_file("badVR.dcm")).read_bytes())
    out = tmp_path / "s.radcam-session"
    code, stdout, stderr = new(capsys, images, "--model", MODEL, "--out", out)
    assert code == 0, stderr
    bad = [entry for entry in read_session(out).entries if Path(entry.path).name == "badVR.dcm"]
    assert [entry.frame for entry in bad] == [0]


def test_every_progress_and_failure_line_reaches_stderr(tmp_path):
    # A real process on pydicom's test files (good, broken and multi-frame): the decoder threads move fd 2 to catch
    # native messages, and lines the command printed meanwhile went with it (progress, "not scored", errors)
    import subprocess
    import sys

    from pydicom.data import get_testdata_file

    out = tmp_path / "s.radcam-session"
    run = subprocess.run([sys.executable, "-m", "viewer.cli", "session", "new", str(Path(get_testdata_file(
        "CT_small.dcm")).parent), "--model", str(MODEL), "--out", str(out), "--no-cache"], capture_output=True,
        text=True, timeout=300, env={**os.environ, "RADCAM_CACHE_DIR": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    lines = run.stderr.splitlines()
    assert summary["failed"] >= 3 and sum(line.startswith("radcam: not scored: ") for line in lines) == \
        summary["failed"]
    assert sum(line.startswith("radcam: [") for line in lines) == summary["entries"]


def test_help_says_what_it_does_prints_and_exits_with(capsys):
    with pytest.raises(SystemExit) as exited:
        run_cli(capsys, "session", "new", "--help")
    assert exited.value.code == 0
    stdout = capsys.readouterr().out
    assert "Prepare a review session headless" in stdout and "stdout: one JSON line" in stdout
    assert "exit status: 0 written; 2 bad input" in stdout and "example:\n  radcam-cli session new " in stdout


def test_odd_file_names_stay_on_their_line(capsys, images, tmp_path):
    # A newline in a skipped file's name split its line in two; an escape in a broken image's drove the terminal
    (images / "not\nan image.png").write_text("x")
    (images / "broken\x1b[2J.png").write_bytes((images / "case0.png").read_bytes()[:300])
    code, _stdout, stderr = new(capsys, images, "--model", MODEL, "--out", tmp_path / "s.radcam-session")
    assert code == 0, stderr
    assert all(line.startswith("radcam: ") for line in stderr.splitlines()), stderr
    assert "not\\x0aan image.png" in stderr and "\x1b" not in stderr and "broken\\x1b[2J.png" in stderr


def test_a_session_open_elsewhere_is_refused_before_the_scan(capsys, images, tmp_path):
    # --overwrite of a session a reader has open was refused only after the whole pre-scan (minutes on a big list)
    import socket
    import subprocess
    import sys

    out = tmp_path / "s.radcam-session"
    out.write_text("a reader's session")
    reader = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_path(out).write_text(json.dumps({"reader": "Dr Busy", "host": socket.gethostname(), "pid": reader.pid,
                                              "since": "2026-01-01T08:00:00+00:00"}))
        code, stdout, stderr = new(capsys, images, "--model", tmp_path / "no-model-needed.keras", "--out", out,
                                   "--overwrite")
    finally:
        reader.kill()
        reader.wait()
    assert_one_line_error(code, "\n".join(line for line in stderr.splitlines()
                                          if not line.startswith("radcam: skipped")))
    assert "is open by Dr Busy" in stderr and out.read_text() == "a reader's session"
