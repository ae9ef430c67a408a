"""The bench's retrieve figure: C-GET and WADO-RS throughput from a real local Orthanc as ratios to reading the
same files from disk, and, where Orthanc is absent, the figure missing with the reason said."""

from __future__ import annotations

import math

import pytest
from conftest import needs_orthanc

from viewer.bench import RATIOS
from viewer.bench.retrieve import FIGURES, retrieve_figures


@needs_orthanc
def test_retrieve_throughput_from_a_local_orthanc(tmp_path):
    said: list[str] = []
    figures, runs, notes = retrieve_figures(tmp_path, repeat=1, say=said.append)
    assert said == [], said
    for name in (*FIGURES, "retrieve_cget_over_disk", "retrieve_wado_over_disk"):
        assert math.isfinite(figures[name]) and figures[name] > 0, name
    for name in ("retrieve_cget_over_disk", "retrieve_wado_over_disk"):
        numerator, denominator = RATIOS[name]
        assert figures[name] == pytest.approx(figures[numerator] / figures[denominator], rel=1e-9)
    assert runs == dict.fromkeys(FIGURES, 1)
    assert "C-GET" in notes["retrieve_cget_mb_s"] and "64 MB" in notes["retrieve_cget_mb_s"]
    print(f"\nretrieve: disk {figures['retrieve_disk_mb_s']:.0f} MB/s, C-GET {figures['retrieve_cget_mb_s']:.0f} "
          f"MB/s ({figures['retrieve_cget_over_disk']:.3f} of disk), WADO-RS {figures['retrieve_wado_mb_s']:.0f} "
          f"MB/s ({figures['retrieve_wado_over_disk']:.3f})")


def test_without_orthanc_the_figure_is_missing_and_says_why(tmp_path, monkeypatch):
    import viewer.bench.orthanc as orthanc

    monkeypatch.setattr(orthanc, "BINARY", str(tmp_path / "no-such-Orthanc"))
    said: list[str] = []
    figures, runs, notes = retrieve_figures(tmp_path, repeat=1, say=said.append)
    assert figures == {} and runs == {}
    assert set(notes) == set(FIGURES)
    assert all(note.startswith("not measured: Orthanc is not installed") for note in notes.values())
    assert said and "not measured: Orthanc is not installed" in said[0]
    assert not (tmp_path / "retrieve-study").exists()  # nothing generated for nothing

    from viewer.cli.bench import format_table

    report = {"radcam": "x", "timestamp": "t", "repeat": 1, "wall_s": 1.0, "models": [],
              "machine": {"device": "CPU", "cpus_available": 2, "cpu_count": 2, "processor": "p",
                          "tensorflow": "2", "keras": "3"},
              "viewer": {"figures": {}, "goals": {}, "runs": {}, "notes": notes}}
    table = format_table(report)
    assert table.count("not measured: Orthanc is not installed") == 1  # once, not once per figure
    assert "retrieve_disk_mb_s: not measured" in table
