"""The pre-scan (viewer.app.prescan) and its cache, on the real demo model and real image files: scores equal the
one-image-at-a-time predictions, batches are used, cancelling stops within a second, visible entries go first, a
scanned worklist reopens with no model call, a bad image fails alone."""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, write_dicom
from PIL import Image

from viewer.app.prediction_cache import PredictionCache, cache_dir, model_key
from viewer.app.prescan import prescan
from viewer.app.worklist import entries_from
from viewer.io import load, open_image


class Counting:
    """The real Keras model, counting its calls and the images in each (how many model calls a scan made)."""

    def __init__(self, model):
        self.model, self.batches = model, []

    def __call__(self, x, **kwargs):
        self.batches.append(len(x))
        return self.model(x, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


class Cancel:
    def __init__(self):
        self.event = threading.Event()
        self.fractions = []

    def progress(self, fraction):
        self.fractions.append(fraction)

    def cancelled(self):
        return self.event.is_set()


@pytest.fixture(scope="module")
def model():
    from viewer.model import default_model_path, load_model

    return load_model(default_model_path())


@pytest.fixture
def counted(model):
    counter = Counting(model.keras_model)
    model.keras_model = counter
    yield counter
    model.keras_model = counter.model


def phantoms(folder: Path, count: int, size: int = 256, start: int = 0) -> Path:
    from viewer.demo.phantom import make_phantom

    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(start, start + count):
        Image.fromarray(make_phantom(seed, size).display).save(folder / f"case{seed:04d}.png")
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return phantoms(tmp_path_factory.mktemp("prescan"), 40)


def entries(*paths):
    result = load([Path(p) for p in paths])
    return entries_from(result)


def collect():
    got: dict[str, dict[str, float]] = {}
    order: list[str] = []

    def on_scores(entry_id, scores, sha256):
        got[entry_id] = scores
        order.append(entry_id)
        digests[entry_id] = sha256
    return got, order, on_scores


digests: dict[str, str] = {}  # entry id → the file digest the last scan delivered


def test_scores_equal_one_image_at_a_time(model, tmp_path):
    from viewer.assets import demo_studies

    folder = phantoms(tmp_path / "png", 5, size=300)
    write_dicom(tmp_path / "mf.dcm", np.random.default_rng(1).integers(0, 4000, (3, 64, 80), np.uint16),
                bits_stored=12, NumberOfFrames=3)
    paths = [folder, tmp_path / "mf.dcm", *demo_studies()]
    if FIXTURES.is_dir():  # real chest files of every kind: JPEG 2000, MONOCHROME1, RGB, NIH PNGs
        paths += [FIXTURES / "dicom" / "cr_chest_mono1_j2k.dcm", FIXTURES / "dicom" / "rgb_test_pattern.dcm",
                  *sorted((FIXTURES / "images").glob("*.png"))[:3]]
    work = entries(*paths)
    got, _order, on_scores = collect()
    result = prescan(work, model, on_scores, batch_size=4)
    assert result.failed == {} and result.scanned == len(work) >= 11
    for entry in work:
        alone = {row["name"]: row["score"] for row in model.predictions(open_image(entry.path, entry.frame).render())}
        assert got[entry.id].keys() == alone.keys()
        assert np.allclose(list(got[entry.id].values()), list(alone.values()), atol=1e-5), entry.path
        assert digests[entry.id] == hashlib.sha256(Path(entry.path).read_bytes()).hexdigest()


def test_one_model_call_per_batch(model, folder, counted):
    work = entries(folder)
    reporter = Cancel()
    result = prescan(work, model, collect()[2], batch_size=16, reporter=reporter)
    assert result.scanned == 40
    assert counted.batches == [16, 16, 8] and result.model_calls == 3
    assert reporter.fractions == [0.4, 0.8, 1.0]  # a batch's images are scored together


def test_cancel_stops_within_a_second_on_200_images(model, tmp_path):
    work = entries(phantoms(tmp_path, 200, size=512))
    reporter = Cancel()
    cancelled_at: list[float] = []

    def on_scores(entry_id, scores, sha256):
        if not reporter.event.is_set():
            reporter.event.set()  # the reader closes the worklist as the first scores arrive
            cancelled_at.append(time.perf_counter())

    result = prescan(work, model, on_scores, reporter=reporter, batch_size=8)
    stopped = time.perf_counter() - cancelled_at[0]
    assert result.cancelled and result.scanned < 200
    assert stopped < 1.0, f"{stopped:.2f} s"


def test_cancel_while_waiting_on_a_slow_decoder(model, folder):
    reporter = Cancel()
    release = threading.Event()

    def slow_open(path, frame=0):
        release.wait(5)  # a decode that takes seconds (a huge JPEG 2000)
        return open_image(path, frame)

    threading.Timer(0.2, reporter.event.set).start()
    started = time.perf_counter()
    result = prescan(entries(folder), model, collect()[2], reporter=reporter, open_image=slow_open, workers=2)
    took = time.perf_counter() - started
    release.set()
    assert result.cancelled and result.scanned == 0
    # the scan returns at once: the two running decodes finish on their own (the model thread waited 5 s for them,
    # and an Explain with it); the 38 queued never start
    assert took < 1.5, f"{took:.2f} s"


def test_a_batch_decoded_after_cancelling_is_not_scored(model, folder, counted):
    reporter = Cancel()
    opened = []

    def cancelling_open(path, frame=0):
        opened.append(path)
        if len(opened) == 5:
            reporter.event.set()  # the reader cancels while the first batch is being decoded
        return open_image(path, frame)

    result = prescan(entries(folder), model, collect()[2], reporter=reporter, open_image=cancelling_open)
    assert result.cancelled and result.scanned == 0 and counted.batches == []


def test_visible_entries_go_first(model, folder):
    work = entries(folder)
    visible = ["31", "32", "33"]
    got, order, on_scores = collect()
    prescan(work, model, on_scores, priority=lambda: visible, batch_size=4, workers=2)
    assert order[:3] == visible

    # the reader scrolls during the scan: the newly visible rows come within two batches (those already decoding)
    seen: list[list[str]] = [["1"]]
    got, order, on_scores = collect()

    def scrolled(entry_id, scores, sha256):
        on_scores(entry_id, scores, sha256)
        if len(order) == 4:
            seen.append(["38", "39", "40"])
    prescan(work, model, scrolled, priority=lambda: seen[-1], batch_size=4, workers=2)
    assert sorted(order) == sorted(entry.id for entry in work)
    assert max(order.index(entry_id) for entry_id in ("38", "39", "40")) < 4 + 3 * 4


def test_a_scanned_worklist_reopens_with_no_model_call(model, folder, counted, tmp_path):
    work = entries(folder)
    key = model_key("0" * 64, model.spec.as_dict())
    first, _order, on_scores = collect()
    prescan(work, model, on_scores, cache=PredictionCache(key, tmp_path))
    first_digests = dict(digests)
    calls = len(counted.batches)
    assert calls == math.ceil(40 / 16)

    again = entries(folder)  # a new worklist of the same files, a new cache object (a new viewer)
    second, _order, on_scores = collect()
    reporter = Cancel()
    result = prescan(again, model, on_scores, cache=PredictionCache(key, tmp_path), reporter=reporter)
    assert reporter.fractions[:3] == [1 / 40, 2 / 40, 3 / 40] and reporter.fractions[-1] == 1.0  # hits one by one
    assert len(counted.batches) == calls and result.model_calls == 0
    assert result.cached == 40 and result.scanned == 0
    assert second == first
    assert digests == first_digests and len(set(first_digests.values())) == 40


def test_the_cache_is_per_content_and_per_model(model, folder, tmp_path, counted):
    key = model_key("a" * 64, model.spec.as_dict())
    prescan(entries(folder / "case0001.png"), model, collect()[2], cache=PredictionCache(key, tmp_path))
    moved = tmp_path / "renamed.png"
    moved.write_bytes((folder / "case0001.png").read_bytes())  # same bytes elsewhere: a hit
    result = prescan(entries(moved), model, collect()[2], cache=PredictionCache(key, tmp_path))
    assert result.cached == 1
    spec = {**model.spec.as_dict(), "preprocess": "tf"}  # another sidecar: another model
    for other in (model_key("b" * 64, model.spec.as_dict()), model_key("a" * 64, spec)):
        assert other != key
        assert prescan(entries(moved), model, collect()[2], cache=PredictionCache(other, tmp_path)).cached == 0


def test_another_radcam_version_scores_again(monkeypatch, model):
    import viewer

    key = model_key("a" * 64, model.spec.as_dict())
    monkeypatch.setattr(viewer, "__version__", "99.0")  # a fix to decoding may change the pixels the model sees
    assert model_key("a" * 64, model.spec.as_dict()) != key


def test_a_cache_that_cannot_be_written_is_a_warning(model, folder, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    cache = PredictionCache("k", blocked)
    result = prescan(entries(folder / "case0002.png"), model, collect()[2], cache=cache)
    assert result.scanned == 1 and "not used" in cache.warning and result.warning == cache.warning


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("RADCAM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "radcam"


def test_a_bad_image_fails_alone(model, folder, tmp_path):
    good = [folder / f"case000{n}.png" for n in range(3)]
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good[0].read_bytes()[:400])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    gone = tmp_path / "gone.png"
    gone.write_bytes(good[1].read_bytes())
    work = entries(*good[:2], truncated, text, gone, good[2])
    gone.unlink()  # moved away after the worklist was made
    failures: list[tuple[str, str]] = []
    got, _order, on_scores = collect()
    result = prescan(work, model, on_scores, on_failed=lambda i, reason: failures.append((i, reason)))
    assert result.scanned == 3 and len(got) == 3
    bad = {entry.id: entry.path for entry in work if Path(entry.path).parent == tmp_path}
    assert result.failed.keys() == bad.keys() and dict(failures) == result.failed
    for entry_id, reason in result.failed.items():
        assert "\n" not in reason and bad[entry_id] in reason


def test_model_session_prescan_uses_the_user_cache(monkeypatch, tmp_path, folder):
    from viewer.app.jobs import Quiet
    from viewer.app.session import ModelSession
    from viewer.model import default_model_path

    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path))
    session = ModelSession()
    session.load(default_model_path(), False, Quiet())
    work = entries(folder)[:5]
    assert session.prescan(work, collect()[2], Quiet()).scanned == 5
    kept = session.prediction_cache
    assert session.prescan(work, collect()[2], Quiet()).cached == 5
    assert session.prediction_cache is kept  # one cache per model across the viewer's chunks
    assert list((tmp_path / "predictions").glob("*.sqlite"))
    assert session.model_digest == (default_model_path(), hashlib.sha256(default_model_path().read_bytes()).hexdigest())
    session.load(default_model_path(), False, Quiet())  # the file may have changed: digest and cache start again
    assert session.model_digest == (None, "")
    assert session.prescan(work, collect()[2], Quiet()).cached == 5 and session.prediction_cache is not kept
    rows = session.predict_batch([open_image(work[0].path).render()])
    assert rows[0].keys() == {"nodule", "consolidation"}


def test_the_bench_figure_is_the_ratio_of_two_throughputs(model, tmp_path):
    from viewer.app.prescan import scan_files
    from viewer.bench.prescan import add_prescan_figures
    from viewer.bench.suite import bench_file, goals
    from viewer.cli.bench import MODEL_ROWS, _rows

    result = {"figures": {}, "runs": {}, "notes": {}}
    add_prescan_figures(result, model, scan_files, bench_file(), tmp_path, repeat=1, images=8)
    figures = result["figures"]
    assert figures["prescan_images_per_s"] > 0 and figures["batched_forward_images_per_s"] > 0
    assert figures["prescan_over_batched_forward"] == pytest.approx(
        figures["prescan_images_per_s"] / figures["batched_forward_images_per_s"], rel=1e-9)
    assert isinstance(goals(figures)["prescan_over_batched_forward"]["met"], bool)
    result["goals"] = goals(figures)
    row = next(row for row in _rows(result, MODEL_ROWS, result) if row[0].startswith("pre-scan"))
    assert "8 DICOM files" in row[0] and "/ batched forward images/s" in row[2] and row[3] == "> 0.8"


def test_two_viewers_share_one_cache_file(tmp_path):
    first, second = PredictionCache("m", tmp_path), PredictionCache("m", tmp_path)
    writers = [threading.Thread(target=cache.put_many, args=([(f"{name}{n}", 0, {"a": n / 100}) for n in range(50)],))
               for name, cache in (("x", first), ("y", second))]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert first.warning is None and second.warning is None
    assert first.get("y7", 0) == {"a": 0.07} and second.get("x9", 0) == {"a": 0.09}  # each sees the other's rows
    assert PredictionCache("m", tmp_path).get("x49", 0) == {"a": 0.49} and first.get("x49", 1) is None


def test_a_damaged_cache_file_is_replaced(model, folder, tmp_path):
    # It was only warned about, on every scan, and never cached a score again: reopening was never instant
    (tmp_path / "k.sqlite").write_bytes(b"this is not a database" * 100)
    cache = PredictionCache("k", tmp_path)
    result = prescan(entries(folder / "case0003.png"), model, collect()[2], cache=cache)
    cache.close()
    assert result.scanned == 1 and result.warning is None and "damaged" in cache.replaced
    again = PredictionCache("k", tmp_path)
    result = prescan(entries(folder / "case0003.png"), model, collect()[2], cache=again)
    assert (result.scanned, result.cached, result.warning) == (0, 1, None)


def test_decoders_on_several_threads_give_stderr_back():
    # The pre-scan decodes on a pool of threads, each moving fd 2 to catch a decoder's messages. Entered one after
    # another and left in the same order, each thread put back the sink of the one before: fd 2 stayed a temporary
    # file and every later line on stderr ("not scored", progress, the error line) was lost.
    from viewer.stderr_capture import capture_fd2

    def where() -> tuple[int, int]:
        status = os.fstat(2)
        return status.st_dev, status.st_ino

    before = where()
    count = 4
    entered = [threading.Event() for _ in range(count)]
    left = [threading.Event() for _ in range(count)]
    seen: list[str] = []

    def decode(number: int) -> None:
        if number:
            entered[number - 1].wait(5)
        with capture_fd2() as captured:
            entered[number].set()
            entered[-1].wait(5)
            os.write(2, f"decoder {number}\n".encode())
            if number:
                left[number - 1].wait(5)
        left[number].set()
        seen.append(captured.text)

    threads = [threading.Thread(target=decode, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert where() == before
    assert all(f"decoder {number}" in "".join(seen) for number in range(count))
