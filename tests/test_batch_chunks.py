"""How a batch is cut and retried: chunks by a pixel budget read from the headers (viewer.app.batch_budget), and a
chunk retried after its Ray actor was lost (explain_chunk with BatchSpec.retry_since): a set the lost actor wrote
whole gets its JSON line again without being written again; under --overwrite only this run's sets are spared."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
from conftest import FIXTURES, needs_fixtures, write_dicom
from PIL import Image

from viewer.app import batch as batch_module
from viewer.app.batch import BatchSpec, ImageTask, explain_chunk, planned_outputs, run_local
from viewer.app.batch_budget import DEFAULT_PIXELS, PIXEL_BUDGET, chunks, image_pixels

OUTPUTS = frozenset({"overlay", "cam", "json"})


def _tasks(paths: list[Path]) -> list[ImageTask]:
    return [ImageTask(i, path, path.stem, path.name) for i, path in enumerate(paths)]


def _spec(out: Path, **changes) -> BatchSpec:
    from viewer.export import OverlayStyle

    values = {"method": "gradcam", "target": None, "layer": None, "top_n": 32, "frame": 0, "style": OverlayStyle(),
              "outputs": OUTPUTS, "all_findings": False, "anonymize": False, "overwrite": False, "resume": False,
              "out": out}
    return BatchSpec(**{**values, **changes})


def _films(folder: Path, count: int, size: int = 96) -> list[Path]:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(7)
    return [write_dicom(folder / f"im{i:02d}.dcm", (rng.integers(0, 4000, (size, size))).astype(np.uint16),
                        bits_stored=12) for i in range(count)]


# -- chunks by a pixel budget -----------------------------------------------------------------------------------------

def test_a_chunk_holds_at_most_the_batch_and_the_budget():
    sizes = [10, 10, 10, 50, 10, 200, 10, 10, 10, 10, 10]
    tasks = [ImageTask(i, Path(f"{i}"), f"{i}", f"{i}") for i in range(len(sizes))]
    formed = list(chunks(tasks, 3, budget=60, pixels=lambda path: sizes[int(str(path))]))
    assert [[task.index for task in chunk] for chunk in formed] == [[0, 1, 2], [3, 4], [5], [6, 7, 8], [9, 10]]
    assert [task.index for chunk in formed for task in chunk] == list(range(len(sizes)))  # input order, each once


def test_an_image_over_the_budget_forms_a_chunk_alone():
    tasks = [ImageTask(i, Path(f"{i}"), f"{i}", f"{i}") for i in range(3)]
    formed = list(chunks(tasks, 16, budget=100, pixels=lambda path: 10_000 ** 2))
    assert [len(chunk) for chunk in formed] == [1, 1, 1]


def test_headers_are_read_as_the_chunks_are_formed_not_before():
    read: list[int] = []
    tasks = [ImageTask(i, Path(f"{i}"), f"{i}", f"{i}") for i in range(100)]
    formed = chunks(tasks, 4, pixels=lambda path: read.append(int(str(path))) or 1)
    assert next(formed) == tasks[:4]
    assert read == [0, 1, 2, 3, 4]  # the first chunk, and the image that did not fit in it
    next(formed)
    assert len(read) == 9


def test_the_header_says_the_pixels_without_decoding_them(tmp_path):
    dicom = write_dicom(tmp_path / "film.dcm", np.zeros((300, 200), np.uint16), bits_stored=12)
    assert image_pixels(dicom) == 300 * 200
    truncated = tmp_path / "truncated.dcm"  # the pixels cut short: decode would fail, the header is whole
    truncated.write_bytes(dicom.read_bytes()[:-50_000])
    assert image_pixels(truncated) == 300 * 200
    Image.fromarray(np.zeros((70, 90), np.uint8)).save(tmp_path / "film.png")
    assert image_pixels(tmp_path / "film.png") == 70 * 90
    os.replace(tmp_path / "film.png", tmp_path / "film")  # no suffix: still found
    assert image_pixels(tmp_path / "film") == 70 * 90
    unsuffixed = tmp_path / "dicom_without_suffix"
    unsuffixed.write_bytes(dicom.read_bytes())
    assert image_pixels(unsuffixed) == 300 * 200


def test_films_of_10000_pixels_a_side_go_one_a_chunk(tmp_path):
    """From the headers alone (these files hold 8² pixels but say 10,000²: decode would refuse them, later): two
    chunks in flight then hold two such films, not 32 (their pixels alone 6.4 GB as uint16)."""
    paths = []
    for i, side in enumerate([10_000, 10_000, 1024, 1024, 10_000]):
        paths.append(write_dicom(tmp_path / f"im{i}.dcm", np.zeros((8, 8), np.uint16), bits_stored=12, Rows=side,
                                 Columns=side))
    assert [[task.index for task in chunk] for chunk in chunks(_tasks(paths), 16)] == [[0], [1], [2, 3], [4]]


@needs_fixtures
def test_a_dicom_without_file_meta_is_peeked_as_open_image_reads_it():
    from viewer.io import open_image

    path = FIXTURES / "dicom" / "cr_chest_mono1_no_meta.dcm"
    image = open_image(path)
    assert image_pixels(path) == image.shape[0] * image.shape[1]


def test_an_unreadable_header_counts_as_an_ordinary_image(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    assert image_pixels(bad) == DEFAULT_PIXELS
    assert image_pixels(tmp_path / "absent.dcm") == DEFAULT_PIXELS
    assert DEFAULT_PIXELS * 16 == PIXEL_BUDGET


def test_the_local_run_cuts_its_chunks_by_the_budget(tmp_path, demo_engine, monkeypatch):
    """Five 96² films and a budget of two: chunks of 2, 2, 1, each image's outcome once and in order."""
    films = _films(tmp_path / "in", 5)
    monkeypatch.setattr("viewer.app.batch_budget.PIXEL_BUDGET", 2 * 96 * 96)
    seen: list[int] = []
    real = batch_module.explain_chunk

    def counting(engine, spec, tasks, *args, **kwargs):
        seen.append(len(tasks))
        return real(engine, spec, tasks, *args, **kwargs)

    monkeypatch.setattr(batch_module, "explain_chunk", counting)
    (tmp_path / "out").mkdir()
    outcomes = list(run_local(demo_engine, _spec(tmp_path / "out"), _tasks(films), batch=16, workers=2))
    assert seen == [2, 2, 1]
    assert [o.index for o in outcomes] == list(range(5)) and all(o.error is None for o in outcomes)


# -- a chunk retried after its Ray actor was lost ---------------------------------------------------------------------

def _comparable(line: dict) -> dict:
    return {key: value for key, value in line.items() if key != "timings_ms"}


def _stamps(spec: BatchSpec, tasks: list[ImageTask]) -> dict[Path, tuple[int, int]]:
    return {path: (path.stat().st_ino, path.stat().st_mtime_ns) for task in tasks
            for path in planned_outputs(spec, task.stem)}


def test_a_set_the_lost_actor_wrote_whole_gets_its_line_again_written_once(tmp_path, demo_engine):
    out = tmp_path / "out"
    out.mkdir()
    tasks = _tasks(_films(tmp_path / "in", 3))
    since = time.time() - 1  # the run's start, as run_ray takes it
    first = explain_chunk(demo_engine, _spec(out), tasks)  # the lost actor's work, all written
    before = _stamps(_spec(out), tasks)
    for resume in (False, True):  # under --resume too: a local run would have written and said these
        again = explain_chunk(demo_engine, _spec(out, retry_since=since, resume=resume), tasks)
        assert [o.error for o in again] == [None] * 3 and not any(o.skipped for o in again)
        assert [_comparable(o.line) for o in again] == [_comparable(o.line) for o in first]  # outputs named too
        assert [o.written for o in again] == [o.written for o in first]
        assert _stamps(_spec(out), tasks) == before  # written once
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in before)  # nothing staged left


def test_under_overwrite_a_retried_chunk_spares_only_this_runs_sets(tmp_path, demo_engine):
    out = tmp_path / "out"
    out.mkdir()
    tasks = _tasks(_films(tmp_path / "in", 2))
    explain_chunk(demo_engine, _spec(out), tasks)
    since = time.time() - 1
    old = since - 3600
    for path in planned_outputs(_spec(out), tasks[0].stem):  # an older run's set: not the lost actor's
        os.utime(path, (old, old))
    before = _stamps(_spec(out), tasks)
    again = explain_chunk(demo_engine, _spec(out, overwrite=True, retry_since=since), tasks)
    assert [o.error for o in again] == [None, None]
    after = _stamps(_spec(out), tasks)
    assert all(after[p] != before[p] for p in planned_outputs(_spec(out), tasks[0].stem))  # overwritten
    assert all(after[p] == before[p] for p in planned_outputs(_spec(out), tasks[1].stem))  # spared, said again
    assert again[1].line is not None and again[1].written == planned_outputs(_spec(out), tasks[1].stem)


def test_without_overwrite_an_older_set_is_refused_as_in_a_local_run(tmp_path, demo_engine):
    out = tmp_path / "out"
    out.mkdir()
    tasks = _tasks(_films(tmp_path / "in", 1))
    explain_chunk(demo_engine, _spec(out), tasks)
    since = time.time() + 5  # the set is older than the run
    [outcome] = explain_chunk(demo_engine, _spec(out, retry_since=since), tasks)
    assert outcome.error is not None and "use --overwrite" in outcome.error
    [outcome] = explain_chunk(demo_engine, _spec(out, retry_since=since, resume=True), tasks)
    assert outcome.skipped  # --resume: an older run's complete set is skipped, as locally


def test_a_set_the_lost_actor_left_incomplete_is_written_whole(tmp_path, demo_engine):
    """Only whole sets are ever moved in; should one be incomplete all the same (a file removed), the files this run
    wrote are not 'existing files' to refuse: the set is written again, whole."""
    out = tmp_path / "out"
    out.mkdir()
    tasks = _tasks(_films(tmp_path / "in", 1))
    since = time.time() - 1
    explain_chunk(demo_engine, _spec(out), tasks)
    planned_outputs(_spec(out), tasks[0].stem)[0].unlink()
    [outcome] = explain_chunk(demo_engine, _spec(out, retry_since=since), tasks)
    assert outcome.error is None and outcome.line is not None
    assert all(path.is_file() for path in planned_outputs(_spec(out), tasks[0].stem))


def test_a_fifo_a_folder_or_an_empty_file_is_never_opened_for_its_header(tmp_path):
    """A FIFO given as an image would block the peek for ever (no writer); decode refuses it in one line."""
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "empty.dcm").write_bytes(b"")
    for path in (fifo, tmp_path / "folder.png", tmp_path / "empty.dcm"):
        found: list[int] = []
        peek = threading.Thread(target=lambda p=path, f=found: f.append(image_pixels(p)), daemon=True)
        peek.start()
        peek.join(10)
        if peek.is_alive():  # blocked in open(): a writer lets it go, and the test says why it failed
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        assert found == [DEFAULT_PIXELS], path.name


def test_the_runs_start_is_taken_by_the_output_folders_clock(tmp_path, monkeypatch):
    """A shared file system stamps the actors' files by its server's clock: with this machine's clock an hour ahead,
    every set the lost actor wrote would read as an older run's (refused, or written twice under --overwrite)."""
    from viewer.app import cluster

    real = time.time
    monkeypatch.setattr(cluster.time, "time", lambda: real() + 3600)
    since = cluster._run_start(tmp_path)
    written = tmp_path / "radcam_001.json"
    written.write_text("{}")
    assert written.stat().st_mtime >= since > real() - 60
    assert [path.name for path in tmp_path.iterdir()] == ["radcam_001.json"]  # the marker is gone
    assert cluster._run_start(tmp_path / "absent") >= real() + 3600 - 2  # no folder yet: this machine's clock


def test_a_ray_error_names_its_image_as_given_at_archive_scale():
    """The workers get resolved paths; each error is said with its own image's path as given, without trying every
    path of the run on every error (50,000 images with 1,000 errors were 50 million searches)."""
    from viewer.app.batch_spec import ImageOutcome
    from viewer.app.cluster import _as_given

    given = {i: (f"/archive/images/{i:06d}.png", f"images/{i:06d}.png") for i in range(50_000)}
    outcomes = [ImageOutcome(i, f"images/{i:06d}.png", None, [], f"{given[i][0]}: not an image", False, False)
                for i in range(0, 50_000, 50)]
    start = time.process_time()
    said = _as_given(outcomes, given)
    assert time.process_time() - start < 1.0
    assert said[3].error == "images/000150.png: not an image"
