"""The bounded batch pipeline of `radcam-cli explain` (viewer.app.batch): the same files and lines as one image at a
time, --outputs, --resume, input order, a bad image failing alone, and Ctrl+C leaving only complete sets."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, write_dicom
from PIL import Image

SET = ("_original.png", "_heatmap.png", "_overlay.png", "_panels.png", "_cam.npy", ".json")
LINE_FIELDS = ["image", "frame", "model", "method", "layer", "target", "predictions", "cam_shape", "empty", "device",
               "out_of_domain", "timings_ms", "outputs"]


def _pixels(seed: int) -> np.ndarray:
    rows = np.linspace(0, 3000, 96)[:, None] + np.random.default_rng(seed).integers(0, 200, (96, 96))
    return rows.astype(np.uint16)


def _folder(tmp_path: Path, count: int, name: str = "in") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for i in range(count):
        write_dicom(folder / f"im{i:02d}.dcm", _pixels(i), bits_stored=12, InstanceNumber=i + 1)
    return folder


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def _cam_json_spec(out: Path):
    """Grad-CAM with outputs cam,json into the new folder `out`, nothing else asked."""
    from viewer.app.batch import BatchSpec
    from viewer.export import OverlayStyle

    out.mkdir()
    return BatchSpec(method="gradcam", target=None, layer=None, top_n=32, frame=0, style=OverlayStyle(),
                     outputs=frozenset({"cam", "json"}), all_findings=False, anonymize=False, overwrite=False,
                     resume=False, out=out)


def _stems(out: Path) -> set[str]:
    return {path.name.split("_")[0].removesuffix(".json") for path in out.iterdir()}


def test_outputs_equal_one_image_at_a_time(capsys, tmp_path, demo_engine):
    """Same CAM (within 1e-4), same JSON fields in the same order, same pixels as engine.explain + write_explanation."""
    from viewer.export import ModelCard, OverlayStyle, write_explanation
    from viewer.io import open_image

    folder = _folder(tmp_path, 5)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "explain", folder, "--out", out, "--workers", "3")
    assert code == 0, err
    lines = _lines(stdout)
    assert [line["image"] for line in lines] == [str(folder / f"im{i:02d}.dcm") for i in range(5)]
    for i, line in enumerate(lines):
        assert list(line) == LINE_FIELDS
        assert list(line["timings_ms"]) == ["load", "preprocess", "cam", "render", "model_load"]
        image = open_image(folder / f"im{i:02d}.dcm")
        alone = demo_engine.explain(image.render())
        assert [(p["index"], p["name"]) for p in line["predictions"]] == \
            [(p["index"], p["name"]) for p in alone.predictions]
        assert [p["score"] for p in line["predictions"]] == pytest.approx([p["score"] for p in alone.predictions],
                                                                          abs=1e-5)
        assert line["target"] == alone.target.as_dict() and line["cam_shape"] == list(alone.cam.shape)
        np.testing.assert_allclose(np.load(out / f"im{i:02d}_cam.npy"), alone.cam, atol=1e-4)
        assert line["outputs"] == [str(out / f"im{i:02d}{suffix}") for suffix in SET]
        if i == 0:  # the panels as the one-image writer draws them, pixel for pixel
            ref = tmp_path / "ref"
            ref.mkdir()
            write_explanation(ref, "im00", image, image.render(), alone, ModelCard.of(demo_engine.model),
                              OverlayStyle(), cam_array=True)
            for suffix in SET[:4]:
                mine = np.asarray(Image.open(out / f"im00{suffix}"))
                theirs = np.asarray(Image.open(ref / f"im00{suffix}"))
                assert mine.shape == theirs.shape and np.abs(mine.astype(int) - theirs).max() <= 1
    assert not [path for path in out.iterdir() if path.name.startswith(".")]  # no staging left behind


def test_outputs_picks_the_files(capsys, tmp_path):
    folder = _folder(tmp_path, 3)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "explain", folder, "--out", out, "--outputs", "cam,json")
    assert code == 0, err
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"im{i:02d}{suffix}" for i in range(3) for suffix in ("_cam.npy", ".json"))
    assert [len(line["outputs"]) for line in _lines(stdout)] == [2, 2, 2]
    sidecar = json.loads((out / "im00.json").read_text())
    assert sidecar["files"] == ["im00_cam.npy", "im00.json"]


def test_outputs_unknown_kind_is_one_line(capsys, tmp_path):
    code, stdout, err = run_cli(capsys, "explain", _folder(tmp_path, 1), "--outputs", "cam,gif")
    assert code == 2 and stdout == ""
    assert "gif" in err and "original,heatmap" in err and "Traceback" not in err


def test_resume_writes_only_what_was_missing(capsys, tmp_path):
    folder = _folder(tmp_path, 4)
    out = tmp_path / "out"
    assert run_cli(capsys, "explain", folder, "--out", out)[0] == 0
    for suffix in SET:  # as if the run had stopped before im02
        (out / f"im02{suffix}").unlink()
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    time.sleep(0.01)
    code, stdout, err = run_cli(capsys, "explain", folder, "--out", out, "--resume")
    assert code == 0, err
    assert [line["image"] for line in _lines(stdout)] == [str(folder / "im02.dcm")]
    assert "3 of 4 images skipped" in err
    after = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    assert {name: after[name] for name in before} == before  # nothing complete was written again
    assert sorted(set(after) - set(before)) == sorted(f"im02{suffix}" for suffix in SET)


def test_resume_and_overwrite_exclude_each_other(capsys, tmp_path):
    code, _out, err = run_cli(capsys, "explain", _folder(tmp_path, 1), "--out", tmp_path / "o", "--resume",
                              "--overwrite")
    assert code == 2 and err.count("\n") == 1 and "--resume" in err


def test_lines_come_in_input_order_whatever_finishes_first(tmp_path, demo_engine, monkeypatch):
    """Decoding takes a random time per image and chunks overlap; outcomes still come in input order."""
    import viewer.io
    from viewer.app.batch import ImageTask, run_local

    folder = _folder(tmp_path, 9)
    real = viewer.io.open_image
    rng = random.Random(7)

    def slow(path, **kwargs):
        time.sleep(rng.uniform(0, 0.05))
        return real(path, **kwargs)

    monkeypatch.setattr(viewer.io, "open_image", slow)
    spec = _cam_json_spec(tmp_path / "out")
    tasks = [ImageTask(i, folder / f"im{i:02d}.dcm", f"im{i:02d}", f"im{i:02d}") for i in range(9)]
    outcomes = list(run_local(demo_engine, spec, tasks, batch=2, workers=4))
    assert [outcome.index for outcome in outcomes] == list(range(9))
    assert all(outcome.error is None and outcome.line is not None for outcome in outcomes)
    assert [outcome.line["image"] for outcome in outcomes] == [f"im{i:02d}" for i in range(9)]


def test_a_bad_image_fails_alone_in_its_chunk(capsys, tmp_path):
    folder = _folder(tmp_path, 4)
    data = (folder / "im01.dcm").read_bytes()
    (folder / "im01.dcm").write_bytes(data[: len(data) - 9000])  # its pixel data cut short
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "explain", folder, "--out", out)
    assert code == 2  # an image failed: exit 2, never 1, and the batch went on
    assert [Path(line["image"]).name for line in _lines(stdout)] == ["im00.dcm", "im02.dcm", "im03.dcm"]
    errors = [line for line in err.splitlines() if line.startswith("radcam: error:")]
    assert len(errors) == 2 and "im01.dcm" in errors[0] and "1 of 4 images" in errors[1]
    assert "Traceback" not in err and not list(out.glob("im01*"))


INTERRUPTED = """
import os, signal, sys
import viewer.export.explanation as explanation
from viewer.cli.main import main

real, calls = explanation.save_image, []

def save_then_interrupted(path, pixels, **kwargs):
    real(path, pixels, **kwargs)
    calls.append(path)
    if len(calls) == int(os.environ["RADCAM_TEST_AFTER"]):  # Ctrl+C while the writer threads are busy
        os.kill(os.getpid(), signal.SIGINT)

explanation.save_image = save_then_interrupted
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_leaves_only_complete_sets_and_resume_finishes(capsys, tmp_path):
    folder = _folder(tmp_path, 12)
    out = tmp_path / "out"
    env = {**os.environ, "RADCAM_TEST_AFTER": "10"}
    done = subprocess.run([sys.executable, "-c", INTERRUPTED, "explain", str(folder), "--out", str(out),
                           "--workers", "3"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stderr.splitlines()[-1] == "radcam: error: interrupted"
    assert not [path for path in out.iterdir() if path.name.startswith(".")]  # no staging, no temporaries
    complete = _stems(out)
    for stem in complete:
        assert sorted(path.name for path in out.glob(f"{stem}*")) == sorted(stem + suffix for suffix in SET)
    assert len(complete) < 12  # it did stop
    printed = [Path(json.loads(line)["image"]).stem for line in done.stdout.splitlines()]
    assert set(printed) <= complete  # a line is printed only for a set that is there
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    code, stdout, err = run_cli(capsys, "explain", folder, "--out", out, "--resume")
    assert code == 0, err
    assert {Path(line["image"]).stem for line in _lines(stdout)} == {f"im{i:02d}" for i in range(12)} - complete
    assert {name: path_time for name, path_time in
            ((p.name, p.stat().st_mtime_ns) for p in out.iterdir()) if name in before} == before
    assert len(list(out.iterdir())) == 12 * len(SET)


def test_predict_decodes_in_parallel_and_keeps_input_order(capsys, tmp_path, monkeypatch):
    """Rows in input order with several decoder threads finishing out of order: the same CSV as one thread."""
    import viewer.io

    folder = _folder(tmp_path, 7)
    code, alone, err = run_cli(capsys, "predict", folder, "--workers", "1", "--batch-size", "2")
    assert code == 0, err
    real, rng = viewer.io.open_image, random.Random(3)

    def slow(path, **kwargs):
        time.sleep(rng.uniform(0, 0.05))
        return real(path, **kwargs)

    monkeypatch.setattr(viewer.io, "open_image", slow)
    code, parallel, err = run_cli(capsys, "predict", folder, "--workers", "4", "--batch-size", "2")
    assert code == 0, err
    assert parallel == alone and len(parallel.splitlines()) == 8


def test_evaluate_decodes_ahead_and_keeps_input_order(capsys, tmp_path, monkeypatch):
    """The first image decodes slowest: its line still comes first, and a bad image fails alone."""
    import viewer.io

    folder = _folder(tmp_path, 3)
    data = (folder / "im01.dcm").read_bytes()
    (folder / "im01.dcm").write_bytes(data[: len(data) - 9000])
    real = viewer.io.open_image

    def slow(path, **kwargs):
        time.sleep(0.3 if Path(path).name == "im00.dcm" else 0)
        return real(path, **kwargs)

    monkeypatch.setattr(viewer.io, "open_image", slow)
    code, stdout, err = run_cli(capsys, "evaluate", folder, "--json", "--workers", "3")
    assert code == 2 and "im01.dcm" in err and "Traceback" not in err
    images = [Path(line["image"]).name for line in _lines(stdout)]
    assert images == sorted(images) and set(images) == {"im00.dcm", "im02.dcm"}


def test_outputs_with_a_dicom_option_adds_its_object(capsys, tmp_path):
    folder = _folder(tmp_path, 1)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "explain", folder, "--out", out, "--outputs", "json", "--dicom-pmap")
    assert code == 0, err
    assert sorted(path.name for path in out.iterdir()) == ["im00.json", "im00_pmap.dcm"]


def test_a_stopped_run_does_not_wait_for_a_long_cam(tmp_path, demo_engine):
    """Ctrl+C in the middle of a slow method (Score-CAM on a big model): the chunk's model work is cancelled through
    its reporter, not waited for image after image; nothing of the cancelled images is written."""
    from viewer.app.batch import ImageTask, run_local
    from viewer.progress import Cancelled

    class Slow:  # the demo model, but each image after the first two takes 30 s unless cancelled
        model = demo_engine.model

        def explain(self, base, reporter, **options):
            if hash(base.tobytes()) not in fast:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    if reporter.cancelled():
                        raise Cancelled("stopped")
                    time.sleep(0.01)
            return demo_engine.explain(base, **options)

    from viewer.io import open_image

    folder = _folder(tmp_path, 6)
    fast = {hash(open_image(folder / f"im{i:02d}.dcm").render().tobytes()) for i in (0, 1)}
    spec = _cam_json_spec(tmp_path / "out")
    tasks = [ImageTask(i, folder / f"im{i:02d}.dcm", f"im{i:02d}", f"im{i:02d}") for i in range(6)]
    outcomes = run_local(Slow(), spec, tasks, batch=2, workers=2)
    assert next(outcomes).error is None
    start = time.monotonic()
    outcomes.close()  # what Ctrl+C does to the caller's loop
    assert time.monotonic() - start < 5
    assert sorted(path.name for path in spec.out.iterdir()) == ["im00.json", "im00_cam.npy"]
