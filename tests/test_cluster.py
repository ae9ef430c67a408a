"""Batch explanation on a real local Ray cluster (127.0.0.1, 2 CPUs, 2 actors) over 40 images: the same outputs as
the local run, an actor killed by its PID mid-run, --resume after an interrupted run. One Ray start per module (a few
seconds on 2 cores)."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import write_films

ray = pytest.importorskip("ray")

from viewer.app.batch import BatchSpec, ImageTask, planned_outputs, run_local  # noqa: E402
from viewer.app.cluster import NOT_INSTALLED, import_ray, placement, resolve_address, run_ray  # noqa: E402

IMAGES = 40
BATCH = 4
OUTPUTS = frozenset({"overlay", "cam", "json"})  # --outputs overlay,cam,json
SUMMARY = re.compile(r"radcam: (\d+) images, (\d+) retried after an actor was lost")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    return write_films(tmp_path_factory.mktemp("images"), IMAGES)


def _spec(out: Path, resume: bool = False):
    from viewer.export import OverlayStyle

    return BatchSpec(method="gradcam", target=None, layer=None, top_n=32, frame=0, style=OverlayStyle(),
                     outputs=OUTPUTS, all_findings=False, anonymize=False, overwrite=False, resume=resume, out=out)


def _tasks(images: list[Path]) -> list[ImageTask]:
    return [ImageTask(i, path, path.stem, path.name) for i, path in enumerate(images)]


def _comparable(line: dict) -> dict:
    return {key: value for key, value in line.items() if key not in ("timings_ms", "outputs")}


def _summary(err: str) -> tuple[int, int]:
    found = SUMMARY.findall(err)
    assert len(found) == 1, err
    return int(found[0][0]), int(found[0][1])


def test_without_ray_one_clear_line(monkeypatch):
    from viewer.errors import RadcamError

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as in the default install
    with pytest.raises(RadcamError, match=re.escape(NOT_INSTALLED)):
        import_ray()


def test_a_bare_ray_option_takes_the_environment_address(monkeypatch):
    monkeypatch.delenv("RADCAM_RAY_ADDRESS", raising=False)
    assert resolve_address("local") == "local"
    monkeypatch.setenv("RADCAM_RAY_ADDRESS", "ray://head:10001")
    assert resolve_address("local") == "ray://head:10001"
    assert resolve_address("10.0.0.5:6379") == "10.0.0.5:6379"


def test_the_pool_holds_a_gpu_each_where_there_are_gpus():
    from viewer.errors import RadcamError

    assert placement({"CPU": 16.0, "GPU": 4.0}, None) == (4, {"num_gpus": 1})
    assert placement({"CPU": 2.0}, None) == (2, {"num_cpus": 1})
    assert placement({"CPU": 8.0}, 3) == (3, {"num_cpus": 1})
    with pytest.raises(RadcamError, match="3 Ray actors asked for, but the cluster has 2 CPUs"):
        placement({"CPU": 2.0}, 3)


def test_ray_run_equals_the_local_run(cluster, model_args, demo_engine, images, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a picture")  # fails alone, as in a local run
    tasks = [*_tasks(images[:20]), ImageTask(20, bad, "bad", "bad.png"), *_tasks(images)[20:]]
    tasks = [ImageTask(i, task.path, task.stem, task.label) for i, task in enumerate(tasks)]
    (tmp_path / "local").mkdir()
    local = list(run_local(demo_engine, _spec(tmp_path / "local"), tasks, batch=BATCH, workers=2))
    (tmp_path / "ray").mkdir()
    remote = list(run_ray(model_args, _spec(tmp_path / "ray"), tasks, address=None, actors=2, batch=BATCH))
    assert [o.index for o in remote] == list(range(IMAGES + 1))
    assert [o.error is None for o in remote] == [i != 20 for i in range(IMAGES + 1)]
    assert remote[20].error == local[20].error and "bad.png" in remote[20].error and not remote[20].internal
    for mine, theirs in zip(local, remote, strict=True):
        if mine.index == 20:
            continue
        assert mine.line is not None and theirs.line is not None
        assert list(mine.line) == list(theirs.line)  # the same fields, in the same order
        assert _comparable(mine.line) == _comparable(theirs.line)
        stem = tasks[mine.index].stem
        np.testing.assert_allclose(np.load(tmp_path / "ray" / f"{stem}_cam.npy"),
                                   np.load(tmp_path / "local" / f"{stem}_cam.npy"), atol=1e-4)
        assert (json.loads((tmp_path / "ray" / f"{stem}.json").read_text())["target"]
                == json.loads((tmp_path / "local" / f"{stem}.json").read_text())["target"])
    assert _summary(capsys.readouterr().err) == (IMAGES + 1, 0)
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == sorted(
        p.name for p in (tmp_path / "local").iterdir())


def test_an_actor_killed_mid_run_loses_nothing_and_writes_nothing_twice(cluster, model_args, demo_engine, images,
                                                                        tmp_path, capsys):
    (tmp_path / "local").mkdir()
    local = list(run_local(demo_engine, _spec(tmp_path / "local"), _tasks(images), batch=BATCH, workers=2))
    spec = _spec(tmp_path / "ray")
    spec.out.mkdir()
    outcomes, watched = _killing_the_first_actor(model_args, spec, images, since=0.0)
    assert sorted(o.index for o in outcomes) == list(range(IMAGES))  # every image once, in order
    assert [o.index for o in outcomes] == list(range(IMAGES))
    assert [o.error for o in outcomes] == [None] * IMAGES
    # Every line, those of the sets the dead actor had written whole too (recomputed, not written again), as local.
    assert not any(o.skipped for o in outcomes)
    assert [_comparable(o.line) for o in outcomes] == [_comparable(o.line) for o in local]
    assert [[Path(p).name for p in o.line["outputs"]] for o in outcomes] == [
        [Path(p).name for p in o.line["outputs"]] for o in local]
    total, retried = _summary(capsys.readouterr().err)
    assert total == IMAGES and retried >= 1
    assert {path: path.stat().st_mtime_ns for path in watched} == watched  # written once, its line said all the same
    for task in _tasks(images):
        assert all(path.is_file() for path in planned_outputs(spec, task.stem))
    expected = {path.name for task in _tasks(images) for path in planned_outputs(spec, task.stem)}
    assert {p.name for p in spec.out.iterdir()} == expected  # no staged temporary left, nothing extra


def test_under_overwrite_a_killed_actors_retry_rewrites_only_an_older_runs_sets(cluster, model_args, demo_engine,
                                                                                images, tmp_path, capsys):
    """--overwrite over an older run's sets (an hour old): the retried chunk spares the sets its lost actor had
    written (newer than the run's start: their lines said again) and overwrites the older ones it had not reached."""
    import dataclasses

    spec = dataclasses.replace(_spec(tmp_path), overwrite=True)
    older = list(run_local(demo_engine, _spec(tmp_path), _tasks(images), batch=BATCH, workers=2))
    old = time.time() - 3600
    for path in tmp_path.iterdir():
        os.utime(path, (old, old))
    start = time.time() - 1
    outcomes, watched = _killing_the_first_actor(model_args, spec, images, since=start)
    assert [o.error for o in outcomes] == [None] * IMAGES and not any(o.skipped for o in outcomes)
    assert [_comparable(o.line) for o in outcomes] == [_comparable(o.line) for o in older]
    assert _summary(capsys.readouterr().err)[1] >= 1
    assert {path: path.stat().st_mtime_ns for path in watched} == watched  # this run's set: spared
    assert [p.name for p in tmp_path.iterdir() if p.stat().st_mtime < start] == []  # every older set overwritten


def test_what_a_killed_actor_left_is_removed_if_this_run_made_or_moved_it(tmp_path):
    """An earlier file that a killed actor moved aside under --overwrite (`.NAME.TOKEN.partSUFFIX.old`) keeps its old
    mtime; its ctime says this run moved it: removed. What an older run left stays."""
    from viewer.app.cluster import _remove_leftovers

    aside = tmp_path / ".film_08.aecc3644.part.json.old"
    aside.write_text("{}")
    old = time.time() - 3600
    os.utime(aside, (old, old))  # as the rename left it: the earlier file's mtime, a fresh ctime
    staging = tmp_path / ".radcam-x1y2z3"
    staging.mkdir()
    kept = tmp_path / "film_08.json"
    kept.write_text("{}")
    _remove_leftovers(tmp_path, time.time() + 60)  # all of it older than "this run"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([aside.name, staging.name, kept.name])
    _remove_leftovers(tmp_path, time.time() - 1)
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]


def _killing_the_first_actor(model_args, spec, images, since: float):
    """The run's outcomes, its first actor killed by its PID once an image of its second chunk (under way) is written
    whole (files newer than `since`), and that image's files with their mtimes then."""
    pids: list[int] = []
    outcomes = []
    run = run_ray(model_args, spec, _tasks(images), address=None, actors=2, batch=BATCH,
                  pool_ready=lambda pool: pids.extend(pool.pids))
    files = planned_outputs(spec, images[2 * BATCH].stem)  # the first image of the first actor's second chunk
    last = planned_outputs(spec, images[3 * BATCH - 1].stem)  # its last: written before the chunk returns
    watched: dict[Path, int] = {}

    def written(paths: list[Path]) -> bool:
        return all(path.is_file() and path.stat().st_mtime >= since for path in paths)

    for outcome in run:
        outcomes.append(outcome)
        if len(outcomes) == 1:  # the first actor's first chunk is done: its second is under way
            # Let the worker run in short steps, stopped between them, until that image's set is in: then, its chunk
            # not done (its last image not written), it is killed before it can finish. Steps of 2 ms while it
            # writes (the folder changes), longer while it decodes (a loaded machine may not run it in 2 ms).
            deadline, step, seen = time.monotonic() + 60, 0.002, set()
            os.kill(pids[0], signal.SIGSTOP)
            while not written(files) and time.monotonic() < deadline:
                os.kill(pids[0], signal.SIGCONT)
                time.sleep(step)
                os.kill(pids[0], signal.SIGSTOP)
                now = {path.name for path in spec.out.iterdir()}
                step, seen = (0.002 if now != seen else min(step * 1.5, 0.05)), now
            assert written(files), "the worker wrote nothing in 60 s"
            assert not written(last), "the chunk was done before its worker could be killed"
            watched = {path: path.stat().st_mtime_ns for path in files}
            os.kill(pids[0], signal.SIGKILL)  # a worker lost mid-run: its chunks in flight go to the other actor
    return outcomes, watched


def test_ray_chunks_follow_the_pixel_budget_formed_as_the_actors_take_them(cluster, model_args, images, tmp_path,
                                                                           monkeypatch, capsys):
    from viewer.app import cluster as cluster_module

    monkeypatch.setattr("viewer.app.batch_budget.PIXEL_BUDGET", 2 * 256 * 256)  # two of these films a chunk
    formed: list[int] = []
    busy: list[int] = []  # chunks in flight on the pool when each new one was formed
    pools: list = []
    real = cluster_module.chunks

    def recording(tasks, batch):
        for chunk in real(tasks, batch):
            formed.append(len(chunk))
            busy.append(sum(pools[0].load))
            yield chunk

    monkeypatch.setattr(cluster_module, "chunks", recording)
    outcomes = list(run_ray(model_args, _spec(tmp_path), _tasks(images[:16]), address=None, actors=2, batch=BATCH,
                            pool_ready=pools.append))
    assert formed == [2] * 8
    # Formed (headers read) as an actor has room for it: 2 actors, 2 chunks each, never all up front.
    assert busy[:4] == [0, 1, 2, 3] and max(busy) < 4
    assert [o.index for o in outcomes] == list(range(16)) and all(o.error is None for o in outcomes)
    assert _summary(capsys.readouterr().err) == (16, 0)


def test_resume_after_an_interrupted_ray_run_writes_only_what_was_missing(cluster, model_args, images, tmp_path,
                                                                          capsys):
    spec = _spec(tmp_path)
    run = run_ray(model_args, spec, _tasks(images), address=None, actors=2, batch=BATCH)
    first = [next(run) for _ in range(10)]
    run.close()  # Ctrl+C in the CLI: the work in flight is stopped, the actors go
    assert [o.index for o in first] == list(range(10))
    complete = {task.stem: {p: p.stat().st_mtime_ns for p in planned_outputs(spec, task.stem)}
                for task in _tasks(images) if all(p.is_file() for p in planned_outputs(spec, task.stem))}
    assert len(complete) >= 10
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert left == []  # only complete sets: nothing staged was left behind
    for task in _tasks(images):  # each set whole or absent
        there = [p.is_file() for p in planned_outputs(spec, task.stem)]
        assert all(there) or not any(there), task.stem
    again = list(run_ray(model_args, _spec(tmp_path, resume=True), _tasks(images), address=None, actors=2,
                         batch=BATCH))
    assert [o.index for o in again] == list(range(IMAGES))
    assert {images[o.index].stem for o in again if o.skipped} == set(complete)
    assert all(o.line is not None for o in again if not o.skipped)
    for files in complete.values():  # untouched
        assert all(path.stat().st_mtime_ns == mtime for path, mtime in files.items())
    for task in _tasks(images):
        assert all(path.is_file() for path in planned_outputs(spec, task.stem))
    capsys.readouterr()


def test_cli_explain_on_ray_prints_the_local_lines(cluster, images, tmp_path, capsys):
    from conftest import run_cli

    code, out, err = run_cli(capsys, "explain", *images[:8], "--out", tmp_path / "ray", "--outputs", "cam,json",
                             "--ray", "--ray-actors", "2")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]  # stdout: JSON lines only, none of Ray's output
    assert [line["image"] for line in lines] == [str(path) for path in images[:8]]
    code, out_local, err_local = run_cli(capsys, "explain", *images[:8], "--out", tmp_path / "local", "--outputs",
                                         "cam,json")
    assert code == 0, err_local
    local = [json.loads(line) for line in out_local.splitlines()]
    assert [_comparable(line) for line in lines] == [_comparable(line) for line in local]
    assert [[Path(p).name for p in line["outputs"]] for line in lines] == [
        [Path(p).name for p in line["outputs"]] for line in local]
    assert _summary(err) == (8, 0)


def test_cli_ray_without_ray_installed_is_one_line(monkeypatch, images, tmp_path, capsys):
    from conftest import assert_one_line_error, run_cli

    monkeypatch.setitem(sys.modules, "ray", None)
    code, out, err = run_cli(capsys, "explain", images[0], "--out", tmp_path, "--ray")
    assert_one_line_error(code, err)
    assert NOT_INSTALLED in err and out == ""


@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_on_a_ray_run_it_started_leaves_only_complete_sets(images, tmp_path, signum, code, said):
    """A real `radcam-cli explain --ray` starting its own local Ray: stdout holds JSON lines only and stderr
    RadCAM's lines only (none of Ray's start-up notices); SIGINT (SIGTERM: Ray's own handler does not take it)
    mid-run ends it with 130 (143) and whole sets."""
    import select
    import subprocess

    env = {key: value for key, value in os.environ.items() if key != "RADCAM_RAY_ADDRESS"}
    out = tmp_path / "out"
    command = [sys.executable, "-m", "viewer.cli", "explain", *map(str, images), "--out", str(out), "--outputs",
               "overlay,cam,json", "--ray", "--ray-actors", "2"]
    # Unbuffered: a line read before communicate() must not leave the lines after it in a reader's buffer.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=env)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 180)
        assert ready, "no JSON line within 180 s"
        first = process.stdout.readline().decode()
        process.send_signal(signum)
        rest_bytes, err_bytes = process.communicate(timeout=120)
        rest, err = rest_bytes.decode(), err_bytes.decode()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, err
    text = first + rest
    if not text.endswith("\n"):  # the signal cut the last line short (print is not atomic): not a line
        text = text[:text.rfind("\n") + 1]
    lines = [json.loads(line) for line in text.splitlines()]
    assert 1 <= len(lines) < IMAGES
    assert all(line.startswith("radcam:") for line in err.splitlines()), err
    # The signal may cut a progress line short: the error line then follows it on the same line.
    assert err.rstrip().endswith(f"radcam: error: {said}"), err
    spec = _spec(out)
    names = {p.name for p in out.iterdir()}
    assert not [name for name in names if name.startswith(".")], names  # no staging left
    for task in _tasks(images):
        there = [p.is_file() for p in planned_outputs(spec, task.stem)]
        assert all(there) or not any(there), task.stem


def test_a_model_the_workers_cannot_load_is_one_line(cluster, model_args, images, tmp_path):
    from viewer.errors import RadcamError

    missing = {**model_args, "path": tmp_path / "absent.keras"}
    with pytest.raises(RadcamError, match="absent.keras") as said:
        list(run_ray(missing, _spec(tmp_path), _tasks(images[:2]), address=None, actors=1, batch=BATCH))
    assert "\n" not in str(said.value)
    broken = {**model_args, "unknown_option": 1}  # a bug in the worker, not a refusal: still one line
    with pytest.raises(RadcamError, match="a Ray worker could not load the model: TypeError: .*unknown_option") as said:
        list(run_ray(broken, _spec(tmp_path), _tasks(images[:2]), address=None, actors=1, batch=BATCH))
    assert "\n" not in str(said.value)
    assert list(tmp_path.iterdir()) == []
