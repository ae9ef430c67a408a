"""`predict --ray` and `evaluate --ray` on a real local Ray cluster (127.0.0.1, 2 CPUs, 2 actors): the same CSV and
the same JSON lines as the local run, an actor killed by its PID mid-run, a model the workers cannot load. One Ray
start per module (a few seconds on 2 cores); the app-layer units (predict_chunk, evaluate_chunk) on their own."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, write_films

from viewer.app.batch import ImageTask

IMAGES = 40
SUMMARY = re.compile(r"radcam: (\d+) images, (\d+) retried after an actor was lost")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    return write_films(tmp_path_factory.mktemp("images"), IMAGES)


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("broken") / "bad.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    return path


def _summary(err: str) -> tuple[int, int]:
    found = SUMMARY.findall(err)
    assert len(found) == 1, err
    return int(found[0][0]), int(found[0][1])


def _without_summary(err: str) -> list[str]:
    return [line for line in err.splitlines() if not SUMMARY.fullmatch(line)]


def _tasks(paths: list[Path]) -> list[ImageTask]:
    return [ImageTask(i, path, path.stem, str(path)) for i, path in enumerate(paths)]


def test_cli_predict_on_ray_writes_the_local_csv(cluster, images, broken, tmp_path, capsys):
    """The 40 images and a broken one among them: the same rows, order and columns; the broken one fails alone
    with the same line."""
    inputs = [*images[:20], broken, *images[20:]]
    code, local, err_local = run_cli(capsys, "predict", *inputs, "--batch-size", "4")
    assert code == 2 and "bad.png" in err_local
    code, remote, err = run_cli(capsys, "predict", *inputs, "--batch-size", "4", "--ray", "--ray-actors", "2")
    assert code == 2, err
    assert remote == local
    rows = remote.splitlines()
    assert len(rows) == 1 + IMAGES and rows[0].startswith("path,") and rows[0].endswith(",out_of_domain")
    assert [row.split(",")[0] for row in rows[1:]] == [str(path) for path in images]
    assert _without_summary(err) == err_local.splitlines()  # the same error lines, the same words
    assert _summary(err) == (IMAGES + 1, 0)
    code, _, err = run_cli(capsys, "predict", *images[:6], "--ray", "--csv", tmp_path / "scores.csv")
    assert code == 0, err
    assert (tmp_path / "scores.csv").read_text() == "\n".join(local.splitlines()[:7]) + "\n"


def test_an_actor_killed_mid_predict_loses_no_row(cluster, model_args, images, capsys):
    from viewer.app.batch_predict import PredictOptions, predict_chunk
    from viewer.app.cluster import run_ray
    from viewer.model import load_model

    tasks = _tasks(images)
    pids: list[int] = []
    outcomes = []
    # One image a chunk: many chunks, so the killed actor surely has some in flight.
    run = run_ray(model_args, PredictOptions(), tasks, address=None, actors=2, batch=1, work="predict",
                  pool_ready=lambda pool: pids.extend(pool.pids))
    for outcome in run:
        outcomes.append(outcome)
        if len(outcomes) == 1:
            os.kill(pids[0], signal.SIGKILL)
    assert [o.index for o in outcomes] == list(range(IMAGES))  # every image once, in order
    assert [o.error for o in outcomes] == [None] * IMAGES
    total, retried = _summary(capsys.readouterr().err)
    assert total == IMAGES and retried >= 1
    local = predict_chunk(load_model(model_args["path"]), tasks, PredictOptions())
    for mine, theirs in zip(local, outcomes, strict=True):
        np.testing.assert_allclose(theirs.line["scores"], mine.line["scores"], rtol=1e-5, atol=1e-6)


def _comparable(line: dict) -> dict:
    return {key: value for key, value in line.items() if key != "seconds"}


def _same(mine, theirs) -> None:
    """Equal, floats within 1e-7: a sum of the same float64 values can differ in its last bits from one process to
    another (numpy's SIMD pairwise sum depends on the array's alignment), here ~1e-10 in a baseline's energy."""
    if isinstance(mine, dict):
        assert list(mine) == list(theirs)
        for key in mine:
            _same(mine[key], theirs[key])
    elif isinstance(mine, list):
        assert len(mine) == len(theirs)
        for one, other in zip(mine, theirs, strict=True):
            _same(one, other)
    elif isinstance(mine, float) and not isinstance(theirs, bool):
        assert theirs == pytest.approx(mine, rel=1e-7, abs=1e-12)
    else:
        assert theirs == mine and type(theirs) is type(mine)


def test_cli_evaluate_on_ray_prints_the_local_lines(cluster, images, broken, capsys):
    inputs = [*images[:3], broken, *images[3:5]]
    argv = ["evaluate", *inputs, "--json", "--steps", "4", "--box", "100,100,60,60"]
    code, local, err_local = run_cli(capsys, *argv)
    assert code == 2 and "bad.png" in err_local
    code, remote, err = run_cli(capsys, *argv, "--ray", "--ray-actors", "2")
    assert code == 2, err
    mine = [json.loads(line) for line in local.splitlines()]
    theirs = [json.loads(line) for line in remote.splitlines()]
    assert [line["image"] for line in theirs] == [str(path) for path in images[:5]]
    assert [list(line) for line in theirs] == [list(line) for line in mine]  # the same fields, in order
    _same([_comparable(line) for line in mine], [_comparable(line) for line in theirs])
    assert _without_summary(err) == err_local.splitlines()
    assert _summary(err) == (6, 0)


def test_cli_evaluate_all_methods_on_ray_writes_the_local_grids(cluster, images, tmp_path, capsys):
    argv = ["evaluate", *images[:2], "--method", "all", "--json", "--steps", "4"]
    code, local, err = run_cli(capsys, *argv, "--out", tmp_path / "local")
    assert code == 0, err
    code, remote, err = run_cli(capsys, *argv, "--out", tmp_path / "ray", "--ray", "--ray-actors", "2")
    assert code == 0, err
    _same([_comparable(json.loads(line)) for line in local.splitlines()],
          [_comparable(json.loads(line)) for line in remote.splitlines()])
    names = sorted(path.name for path in (tmp_path / "local").iterdir())
    assert names == [f"{path.stem}_methods.png" for path in images[:2]]
    assert sorted(path.name for path in (tmp_path / "ray").iterdir()) == names
    for name in names:
        mine, theirs = cv2.imread(str(tmp_path / "local" / name)), cv2.imread(str(tmp_path / "ray" / name))
        assert mine.shape == theirs.shape
        assert np.abs(mine.astype(int) - theirs.astype(int)).max() <= 2  # the same maps, within float rounding


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_model_the_workers_cannot_load_is_one_line(cluster, images, tmp_path, capsys, command):
    code, out, err = run_cli(capsys, command, *images[:2], "--model", tmp_path / "absent.keras", "--ray",
                             "--ray-actors", "1")
    assert_one_line_error(code, err)
    assert "absent.keras" in err and out == ""


def test_evaluate_demo_is_not_sent_to_ray(capsys):
    code, out, err = run_cli(capsys, "evaluate", "--demo", "--ray")
    assert_one_line_error(code, err)
    assert "--ray" in err and out == ""


def test_a_retried_evaluate_chunk_keeps_a_grid_the_lost_actor_wrote(demo_engine, images, tmp_path):
    """evaluate_chunk as a Ray actor runs it on a retried chunk: a grid newer than the run's start is the lost
    actor's, whole (atomic), and is not written again; its lines are still made."""
    import time

    from viewer.app.batch_evaluate import EvaluateOptions, evaluate_chunk, grid_path
    from viewer.cam import METHODS

    options = EvaluateOptions(methods=tuple(METHODS)[:2], steps=2, out=tmp_path, grids=True)
    tasks = _tasks(images[:2])
    since = time.time() - 1
    grid_path(options, tasks[0].stem).write_bytes(b"written by the lost actor")
    outcomes = evaluate_chunk(demo_engine, None, tasks, options, written_since=since)
    assert [o.error for o in outcomes] == [None, None]
    assert [len(o.line["lines"]) for o in outcomes] == [2, 2]
    assert grid_path(options, tasks[0].stem).read_bytes() == b"written by the lost actor"
    assert cv2.imread(str(grid_path(options, tasks[1].stem))) is not None
    old = grid_path(options, tasks[1].stem)
    os.utime(old, (since - 100, since - 100))  # an older run's grid: not this run's, so refused without --overwrite
    outcomes = evaluate_chunk(demo_engine, None, tasks[1:], options, written_since=since)
    assert outcomes[0].error is not None and "exists" in outcomes[0].error


def test_anonymised_predict_on_ray_names_no_source(cluster, images, tmp_path, capsys):
    """The workers see resolved paths; what comes back (a broken file's error) still names only pseudonyms."""
    import shutil

    folder = tmp_path / "DOE_JOHN_1961"
    folder.mkdir()
    for path in images[:3]:
        shutil.copy(path, folder / f"doe_john_{path.name}")
    (folder / "doe_john_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    inputs = sorted(folder.iterdir())  # named one by one: a folder's walk passes over a file it cannot read
    code, local, err_local = run_cli(capsys, "predict", *inputs, "--anonymize")
    code_ray, remote, err = run_cli(capsys, "predict", *inputs, "--anonymize", "--ray", "--ray-actors", "2")
    assert code == code_ray == 2
    assert remote == local and _without_summary(err) == err_local.splitlines()
    assert "radcam_" in err and "doe" not in (remote + err).lower()
    assert str(tmp_path) not in remote + err


def test_a_stopped_predict_on_ray_gives_the_cluster_back(cluster, model_args, images, capsys):
    """Closing the run (Ctrl+C in the CLI) stops the work in flight and kills the actors: their CPUs are free."""
    import time

    from viewer.app.batch_predict import PredictOptions
    from viewer.app.cluster import run_ray

    run = run_ray(model_args, PredictOptions(), _tasks(images), address=None, actors=2, batch=1, work="predict")
    first = [next(run) for _ in range(3)]
    run.close()
    assert [o.index for o in first] == [0, 1, 2]
    deadline = time.monotonic() + 30
    while cluster.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.available_resources().get("CPU", 0) == 2
    assert not SUMMARY.search(capsys.readouterr().err)  # a stopped run has no summary: the CLI says why it stopped


def test_sigterm_during_predict_on_ray_is_said_as_terminated(cluster, images, tmp_path, capsys):
    """The driver waits in ray.wait, which turns the CLI's Terminated into a plain KeyboardInterrupt: the stop is
    still SIGTERM's (143, 'terminated', not 130 'interrupted'), and the CSV is not written."""
    import threading

    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        code, out, err = run_cli(capsys, "predict", *images, "--batch-size", "1", "--ray", "--ray-actors", "2",
                                 "--csv", tmp_path / "scores.csv")
    finally:
        timer.cancel()
    assert code == 143 and err.splitlines()[-1] == "radcam: error: terminated", err
    assert not (tmp_path / "scores.csv").exists() and list(tmp_path.iterdir()) == []


def test_a_signal_while_ray_starts_is_held_until_it_has_started():
    """Raised inside ray.init, Ctrl+C or SIGTERM left Ray half-made (exit 15 from the handler ray.init put in, an
    abort, a segfault): both are held, Ray's handler is not put in, and the caller's handler is called after."""
    import ray._private.utils as utils

    from viewer.app.cluster import _signals_held

    def rays(signum, frame):
        pass

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with _signals_held(pytest.importorskip("ray")):
            os.kill(os.getpid(), signal.SIGINT)
            utils.set_sigterm_handler(rays)  # what ray.init does: a no-op here
            assert signal.getsignal(signal.SIGTERM) is not rays
            reached = True  # the signal did not interrupt the start
    assert reached
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert utils.set_sigterm_handler.__name__ == "set_sigterm_handler"  # Ray's own again
