"""The bench's batch explain figure (viewer/bench/batch_explain.py): `explain --outputs cam,json` over a folder as
a ratio to the model's batched forward throughput, on the demo model (the real pipeline, no mocks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.bench import GOALS, RATIOS


@pytest.fixture(scope="module")
def demo_model():
    from viewer.model import default_model_path, load_model

    return load_model(default_model_path())


def test_the_pipeline_the_bench_runs_writes_exactly_the_cam_and_json(demo_model, tmp_path):
    from viewer.app.batch import BatchSpec, planned_outputs
    from viewer.bench.suite import bench_file
    from viewer.cli.bench_batch import batch_explainer
    from viewer.export import OverlayStyle

    paths = []
    for number in range(3):
        path = tmp_path / f"image{number}.dcm"
        path.write_bytes(bench_file().read_bytes())
        paths.append(path)
    out = tmp_path / "out"
    out.mkdir()
    assert batch_explainer(demo_model, 2)(paths, out) == 3
    spec = BatchSpec(method="gradcam", target=None, layer=None, top_n=32, frame=0, style=OverlayStyle(),
                     outputs=frozenset({"cam", "json"}), all_findings=False, anonymize=True, overwrite=True,
                     resume=False, out=out)
    planned = sorted(path.name for stem in ("radcam_001", "radcam_002", "radcam_003")
                     for path in planned_outputs(spec, stem))
    assert sorted(path.name for path in out.iterdir()) == planned
    assert not any(name.endswith(".png") for name in planned)
    cam = np.load(next(out.glob("radcam_001*.npy")))
    assert cam.ndim == 2 and np.isfinite(cam).all()


def test_batch_explain_figure_is_the_ratio_of_its_two_throughputs(demo_model, tmp_path):
    from viewer.bench.batch_explain import add_batch_explain_figures
    from viewer.bench.suite import bench_file, goals
    from viewer.cli.bench_batch import batch_explainer

    result: dict = {"figures": {}, "runs": {}, "notes": {}}
    add_batch_explain_figures(result, demo_model, batch_explainer, bench_file(), tmp_path, repeat=1, images=6)
    figures = result["figures"]
    for name in ("batch_explain_images_per_s", "batch_explain_forward_images_per_s", "batch_explain_over_forward"):
        assert math.isfinite(figures[name]) and figures[name] > 0, name
    numerator, denominator = RATIOS["batch_explain_over_forward"]
    assert figures["batch_explain_over_forward"] == pytest.approx(figures[numerator] / figures[denominator],
                                                                  rel=1e-9)
    assert GOALS["batch_explain_over_forward"] == (">", 0.8)
    assert isinstance(goals(figures)["batch_explain_over_forward"]["met"], bool)
    assert result["batch_explain_images"] == 6 and result["runs"]["batch_explain_images_per_s"] == 1
    assert not (tmp_path / "batch_explain_out").exists()  # the outputs of the timed runs are not left behind


def test_the_bound_is_the_decode_alone_over_the_same_forward(demo_model, tmp_path):
    """batch_decode_over_forward: decode + render of the same files on the pipeline's threads, over the forward
    images/s the explain figure divides by; with the CPU time per image of all three."""
    import os

    from viewer.bench.batch_explain import add_batch_explain_figures
    from viewer.bench.suite import bench_file
    from viewer.cli.bench_batch import batch_explainer

    result: dict = {"figures": {}, "runs": {}, "notes": {}}
    add_batch_explain_figures(result, demo_model, batch_explainer, bench_file(), tmp_path, repeat=2, images=4)
    figures = result["figures"]
    numerator, denominator = RATIOS["batch_decode_over_forward"]
    assert (numerator, denominator) == ("batch_decode_images_per_s", "batch_explain_forward_images_per_s")
    assert figures["batch_decode_over_forward"] == pytest.approx(figures[numerator] / figures[denominator],
                                                                 rel=1e-9)
    for name in ("batch_explain", "batch_decode", "batch_explain_forward"):
        cpu = figures[f"{name}_cpu_per_image_ms"]
        assert math.isfinite(cpu) and cpu > 0, name
    # Decoding is part of explaining: the pipeline cannot cost less CPU per image than its decode alone.
    assert figures["batch_explain_cpu_per_image_ms"] > figures["batch_decode_cpu_per_image_ms"]
    assert result["batch_decode_workers"] == (os.cpu_count() or 1)
    assert result["runs"]["batch_decode_images_per_s"] == 2
    assert "batch_decode_over_forward" in result["notes"]


def test_the_table_has_the_batch_explain_row():
    from viewer.cli.bench import MODEL_ROWS

    row = next(row for row in MODEL_ROWS if row[0] == "batch_explain_images_per_s")
    assert row[2] == "batch_explain_over_forward" and "{batch_explain_images}" in row[1]
    bound = next(row for row in MODEL_ROWS if row[0] == "batch_decode_images_per_s")
    assert bound[2] == "batch_decode_over_forward" and "{batch_decode_workers}" in bound[1]


def test_the_table_shows_the_bound_and_the_cpu_times():
    from viewer.cli.bench import _rows

    figures = {"batch_explain_images_per_s": 100.0, "batch_explain_forward_images_per_s": 400.0,
               "batch_explain_over_forward": 0.25, "batch_decode_images_per_s": 200.0,
               "batch_decode_over_forward": 0.5, "batch_explain_cpu_per_image_ms": 12.5,
               "batch_decode_cpu_per_image_ms": 6.0, "batch_explain_forward_cpu_per_image_ms": 3.0}
    from viewer.bench.suite import goals
    from viewer.cli.bench import MODEL_ROWS

    rows = _rows({"figures": figures, "goals": goals(figures)}, MODEL_ROWS,
                 {"batch_explain_images": 32, "batch_decode_workers": 2})
    text = "\n".join("  ".join(row) for row in rows)
    assert "decode + render alone, images/s (2 threads: the bound)" in text
    assert "0.5 / batched forward images/s" in text
    assert "12.5 ms" in text and "6.0 ms" in text and "3.0 ms" in text


def test_cam_and_json_alone_draw_no_panel(demo_model, tmp_path, monkeypatch):
    """explain --outputs cam,json makes no colour bar, band or panel it would not write (3-4 ms an image)."""
    import viewer.export.explanation as explanation
    from viewer.bench.suite import bench_file
    from viewer.cam import CamEngine
    from viewer.export import ModelCard, OverlayStyle, write_explanation
    from viewer.io import open_image

    image = open_image(bench_file())
    base = image.render()
    result = CamEngine(demo_model).explain(base)

    def drawn(*args, **kwargs):
        raise AssertionError("a panel was drawn for a set without panels")

    for name in ("colorbar", "panel_rows", "render_panels"):
        monkeypatch.setattr(explanation, name, drawn)
    files = write_explanation(tmp_path, "one", image, base, result, ModelCard.of(demo_model), OverlayStyle(),
                              panels=(), cam_array=True, sidecar=True, anonymize=True)
    assert [path.name for path in files] == ["one_cam.npy", "one.json"]
    assert np.array_equal(np.load(files[0]), result.cam)


def test_each_round_writes_into_a_fresh_folder_removed_only_once_timed(demo_model, tmp_path):
    """No round pays for removing the previous round's files (128 MB of arrays at 32 images): each writes into an
    empty folder of its own, and all are removed after the timing."""
    from viewer.bench.batch_explain import add_batch_explain_figures
    from viewer.bench.suite import bench_file
    from viewer.cli.bench_batch import batch_explainer

    seen: list[tuple[str, list[str], list[str]]] = []

    def recording(loaded, batch):
        explain = batch_explainer(loaded, batch)

        def run(paths, out):
            earlier = sorted(p.name for p in out.parent.iterdir() if p != out)
            seen.append((out.name, sorted(p.name for p in out.iterdir()), earlier))
            return explain(paths, out)

        return run

    result: dict = {"figures": {}, "runs": {}, "notes": {}}
    add_batch_explain_figures(result, demo_model, recording, bench_file(), tmp_path, repeat=2, images=3)
    names = [name for name, _, _ in seen]
    assert len(names) == 3 and len(set(names)) == 3  # the warm-up and two timed rounds
    assert all(not inside for _, inside, _ in seen)
    assert seen[-1][2] == sorted(names[:-1])  # the earlier rounds' folders still there while a round is timed
    assert not (tmp_path / "batch_explain_out").exists()
