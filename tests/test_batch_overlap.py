"""The local batch's overlap (issue 19, batch_explain_over_forward): each chunk decoded before the next one's images,
its model inputs made in the decode threads so the model never waits behind the next chunk's decoding, and the
results those of explain_batch making them itself."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import write_dicom

from viewer.errors import CamError


def _folder(tmp_path: Path, count: int) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(19)
    paths = []
    for i in range(count):
        pixels = (np.linspace(0, 3000, 64)[:, None] + rng.integers(0, 300, (64, 64))).astype(np.uint16)
        paths.append(write_dicom(folder / f"im{i:02d}.dcm", pixels, bits_stored=12, InstanceNumber=i + 1))
    return paths


def _spec(out: Path):
    from viewer.app.batch import BatchSpec
    from viewer.export import OverlayStyle

    out.mkdir()
    return BatchSpec(method="gradcam", target=None, layer=None, top_n=32, frame=0, style=OverlayStyle(),
                     outputs=frozenset({"cam", "json"}), all_findings=False, anonymize=False, overwrite=False,
                     resume=False, out=out)


def test_the_decode_threads_finish_a_chunk_before_the_next_ones_images(tmp_path, demo_engine, monkeypatch):
    """Two chunks in flight share the decode threads: the first chunk's images are all decoded before any of the
    second's (interleaved, the model waited for both chunks' decoding)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import viewer.app.batch
    import viewer.io
    from viewer.app.batch import ImageTask, run_local

    paths = _folder(tmp_path, 48)
    real = viewer.io.open_image
    started: list[int] = []

    def recorded(path, **kwargs):
        started.append(paths.index(Path(path)))
        return real(path, **kwargs)

    class SlowToQueue(ThreadPoolExecutor):  # widens the window in which two chunks queue their images together
        def submit(self, fn, /, *args, **kwargs):
            if self._thread_name_prefix.startswith("radcam-decode"):
                time.sleep(0.002)
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(viewer.io, "open_image", recorded)
    monkeypatch.setattr(viewer.app.batch, "ThreadPoolExecutor", SlowToQueue)
    tasks = [ImageTask(i, path, path.stem, path.stem) for i, path in enumerate(paths)]
    outcomes = list(run_local(demo_engine, _spec(tmp_path / "out"), tasks, batch=16, workers=1))
    assert all(outcome.error is None for outcome in outcomes)
    assert started == list(range(48))  # one decode thread: input order, chunk after chunk


def test_the_model_inputs_are_made_in_the_decode_threads(tmp_path, demo_engine, monkeypatch):
    """Each image's resize to the model's input right after its decode, in its decode thread; the chunk's model
    call gets them made (made there, they queued behind the next chunk's decoding)."""
    from viewer.app.batch import ImageTask, run_local

    paths = _folder(tmp_path, 6)
    model = demo_engine.model
    real_inputs, real_batch = model.model_inputs, demo_engine.explain_batch
    events: list[tuple[str, str]] = []

    def inputs(display):
        events.append(("inputs", threading.current_thread().name))
        return real_inputs(display)

    def batch(bases, **options):
        given = options.get("inputs")
        events.append(("batch", f"{len(bases)} images, {'no inputs' if given is None else len(given)} inputs"))
        return real_batch(bases, **options)

    monkeypatch.setattr(model, "model_inputs", inputs)
    monkeypatch.setattr(demo_engine, "explain_batch", batch)
    tasks = [ImageTask(i, path, path.stem, path.stem) for i, path in enumerate(paths)]
    outcomes = list(run_local(demo_engine, _spec(tmp_path / "out"), tasks, batch=3, workers=2))
    assert all(outcome.error is None for outcome in outcomes)
    made = [name for kind, name in events if kind == "inputs"]
    assert len(made) == 6 and all(name.startswith("radcam-decode") for name in made), events
    assert [name for kind, name in events if kind == "batch"] == ["3 images, 3 inputs"] * 2
    for outcome in outcomes:  # the resize is the image's preprocessing, wherever it ran
        assert outcome.line is not None and outcome.line["timings_ms"]["preprocess"] > 0


def test_inputs_made_beforehand_give_the_same_maps(demo_engine):
    from viewer.cam.batch import explain_batch

    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (90 + 7 * i, 80), dtype=np.uint8) for i in range(5)]
    inputs = [demo_engine.model.model_inputs(image) for image in images]
    made = explain_batch(demo_engine, images, method="gradcam", batch_size=2)
    given = explain_batch(demo_engine, images, method="gradcam", batch_size=2, inputs=inputs)
    for one, two in zip(made, given, strict=True):
        assert np.array_equal(one.cam, two.cam)
        assert one.predictions == two.predictions and one.target.as_dict() == two.target.as_dict()
    with pytest.raises(CamError, match="2 prepared inputs for 5 images"):
        explain_batch(demo_engine, images, method="gradcam", inputs=inputs[:2])
