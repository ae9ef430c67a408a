"""The verdict per map (viewer.trust.verdict): the rules' table, every boundary, properties over many random
figures, reports without ROAD or the sanity check, and the verdict on each row of `radcam-cli evaluate --json`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from hypothesis import given, strategies as st

from viewer.model import default_model_path
from viewer.trust.verdict import MARGIN, VERDICTS, Evidence, judge, judge_report

# The baselines of the table; each figure below is clearly better, clearly worse or within MARGIN of them.
BASELINES = {"random": Evidence(0.50, 0.00), "edge": Evidence(0.40, 0.05)}
BLUR = {"better": 0.30, "unclear": 0.41, "worse": 0.60}  # deletion AUC, lower is better; 0.41 ties with edge
ROAD = {"better": 0.20, "unclear": 0.06, "worse": -0.10}  # combined, higher is better; 0.06 ties with edge

# The README's rules as a table: (blur outcome, ROAD outcome) → (verdict with sanity "pass", without a sanity
# result ("n/a" or the check did not run)). Sanity "fail" is model-independent everywhere.
TABLE = {
    ("better", "better"): ("faithful", "inconclusive"),
    ("better", "unclear"): ("inconclusive", "inconclusive"),
    ("better", "worse"): ("inconclusive", "inconclusive"),
    ("unclear", "better"): ("inconclusive", "inconclusive"),
    ("unclear", "unclear"): ("inconclusive", "inconclusive"),
    ("unclear", "worse"): ("not-faithful", "not-faithful"),
    ("worse", "better"): ("inconclusive", "inconclusive"),
    ("worse", "unclear"): ("not-faithful", "not-faithful"),
    ("worse", "worse"): ("not-faithful", "not-faithful"),
}


def evidence(blur: str, road: str) -> Evidence:
    return Evidence(BLUR[blur], ROAD[road])


@pytest.mark.parametrize(("blur", "road"), list(TABLE))
@pytest.mark.parametrize("sanity", ["pass", "n/a", None, "fail"])
def test_the_verdict_table(blur, road, sanity):
    with_pass, without = TABLE[blur, road]
    expected = {"pass": with_pass, "fail": "model-independent"}.get(sanity, without)
    found = judge(evidence(blur, road), BASELINES, sanity)
    assert found.verdict == expected
    assert found.verdict in VERDICTS and len(found.reasons) >= 3 and all(found.reasons)


def test_a_sanity_failure_is_model_independent_whatever_the_curves_say():
    found = judge(evidence("better", "better"), BASELINES, "fail")
    assert found.verdict == "model-independent"
    assert "sanity check fails" in found.reasons[0]


def test_the_reasons_name_the_baselines_and_fills_with_the_numbers():
    found = judge(Evidence(0.98, 0.21), {"random": Evidence(0.75, 0.01), "edge": Evidence(0.99, 0.05)}, "pass")
    assert found.verdict == "inconclusive"
    assert found.reasons[0] == ("The measures disagree: under ROAD combined the map beats every baseline, under blur "
                                "deletion AUC a baseline beats it.")
    assert found.reasons[1] == "Blur deletion AUC: the random map beats it (0.980 vs random 0.750, edge 0.990)."
    assert found.reasons[2] == ("ROAD combined: it beats both baselines by more than 0.02 (0.210 vs random 0.010, "
                                "edge 0.050).")
    assert found.reasons[3].startswith("Sanity check: passed")


# ---- boundaries: better by more than MARGIN beats; by exactly MARGIN (or a tie) is unclear ----

@pytest.mark.parametrize(("deletion", "verdict"), [
    (0.30, "inconclusive"),  # exactly MARGIN below the random map's 0.32: a tie, not a win
    (0.2999, "faithful"),  # just more than MARGIN
    (0.32, "inconclusive"),  # equal: a tie
])
def test_blur_boundary_against_the_random_map(deletion, verdict):
    baselines = {"random": Evidence(0.32, 0.0), "edge": Evidence(0.90, 0.0)}
    assert judge(Evidence(deletion, 0.5), baselines, "pass").verdict == verdict


@pytest.mark.parametrize(("road", "verdict"), [(0.07, "inconclusive"), (0.0701, "faithful"), (0.05, "inconclusive")])
def test_road_boundary_against_the_edge_map(road, verdict):
    baselines = {"random": Evidence(0.9, 0.0), "edge": Evidence(0.9, 0.05)}
    assert judge(Evidence(0.1, road), baselines, "pass").verdict == verdict


@pytest.mark.parametrize(("deletion", "beaten"), [(0.32, False), (0.3201, True)])
def test_a_baseline_beats_the_map_only_by_more_than_the_margin(deletion, beaten):
    """Worse by exactly MARGIN is a tie ("unclear"), not "worse": with ROAD better that is not a disagreement."""
    baselines = {"random": Evidence(0.30, 0.0), "edge": Evidence(0.90, 0.0)}
    found = judge(Evidence(deletion, 0.5), baselines, "pass")
    assert found.verdict == "inconclusive"
    assert ("disagree" in found.reasons[0]) == beaten
    assert ("the random map beats it" in found.reasons[1]) == beaten
    assert judge(Evidence(deletion, -0.5), baselines, "pass").verdict == "not-faithful"  # ROAD worse too


# ---- what was not measured never makes a map faithful ----

def test_missing_road_gives_at_most_inconclusive():
    found = judge(Evidence(0.1, None), BASELINES, "pass")
    assert found.verdict == "inconclusive"
    assert "ROAD combined" in found.reasons[0] and found.reasons[2] == "ROAD combined: not measured for this map."
    no_road_baseline = {"random": Evidence(0.5, None), "edge": Evidence(0.4, 0.05)}
    found = judge(Evidence(0.1, 0.5), no_road_baseline, "pass")
    assert found.verdict == "inconclusive" and "not measured for the random map" in found.reasons[2]
    assert judge(Evidence(0.9, None), BASELINES, "pass").verdict == "not-faithful"  # blur alone says worse


@pytest.mark.parametrize(("sanity", "said"), [(None, "did not run"), ("n/a", "could not be applied")])
def test_missing_sanity_gives_at_most_inconclusive(sanity, said):
    found = judge(evidence("better", "better"), BASELINES, sanity)
    assert found.verdict == "inconclusive" and said in found.reasons[0]


def test_no_baselines_or_no_deletion_is_not_measured():
    assert judge(evidence("better", "better"), {}, "pass").verdict == "inconclusive"
    assert judge(Evidence(float("nan"), 0.5), BASELINES, "pass").verdict == "inconclusive"


# ---- properties over many random figures ----

figure = st.floats(-1.0, 1.0, allow_nan=False)
maybe = st.one_of(st.none(), figure)
evidences = st.builds(Evidence, figure, maybe)
sanities = st.sampled_from(["pass", "fail", "n/a", None])


def _gain(fill: str, method: Evidence, baseline: Evidence) -> float | None:
    """How much better the map is than the baseline under one fill (None: not measured)."""
    if fill == "blur":
        return baseline.deletion_auc - method.deletion_auc
    if method.road_combined is None or baseline.road_combined is None:
        return None
    return method.road_combined - baseline.road_combined


@given(evidences, evidences, evidences, sanities)
def test_properties_over_random_evidence(method, random, edge, sanity):
    baselines = {"random": random, "edge": edge}
    found = judge(method, baselines, sanity)
    assert found.verdict in VERDICTS and found.reasons and all(found.reasons)
    gains = {fill: [_gain(fill, method, b) for b in baselines.values()] for fill in ("blur", "road")}
    beats_all = all(g is not None and g > MARGIN + 1e-9 for fill in gains.values() for g in fill)
    if sanity == "fail":
        assert found.verdict == "model-independent"
    # faithful exactly when both fills beat every baseline by more than MARGIN and the sanity check passes
    assert (found.verdict == "faithful") == (beats_all and sanity == "pass")
    # a map the random map beats, under either fill, is never faithful
    if any(g is not None and g < -MARGIN for g in (gains["blur"][0], gains["road"][0])):
        assert found.verdict != "faithful"
    if method.road_combined is None or sanity != "pass":
        assert found.verdict != "faithful"
    if found.verdict == "not-faithful":  # some baseline beats it, and no fill shows it better than them all
        assert any(g is not None and g < -MARGIN for fill in gains.values() for g in fill)


# ---- reports (to_dict() forms) ----

def _report(deletion: float, road: float | None, sanity: str | None, baselines: dict) -> dict:
    report = {"curves": {"deletion_auc": deletion}, "baselines": baselines}
    if road is not None:
        report["road"] = {"combined": road, "morf_mean": 0.1, "lerf_mean": 0.1 + 2 * road}
    if sanity is not None:
        report["randomisation"] = {"verdict": sanity}
    return report


def test_judge_report_reads_the_report_and_its_baselines():
    baselines = {"random": _report(0.5, 0.0, None, {}), "edge": _report(0.4, 0.05, None, {})}
    assert judge_report(_report(0.3, 0.2, "pass", baselines))["verdict"] == "faithful"
    older = judge_report(_report(0.3, None, "pass", baselines))  # an older report: no "road"
    assert older["verdict"] == "inconclusive" and "ROAD combined: not measured for this map." in older[
        "verdict_reasons"]
    assert judge_report(_report(0.3, 0.2, None, baselines))["verdict"] == "inconclusive"  # no randomisation
    assert judge_report({"curves": {"deletion_auc": 0.3}})["verdict"] == "inconclusive"  # no baselines
    assert set(judge_report(_report(0.9, 0.2, "fail", baselines))) == {"verdict", "verdict_reasons"}


# ---- radcam-cli evaluate --json on the shipped demo model ----

@pytest.mark.skipif(not default_model_path().is_file(), reason="the shipped demo model is absent")
def test_every_evaluate_row_carries_a_verdict_consistent_with_its_numbers(capsys, tmp_path):
    png = default_model_path().parents[1] / "demo" / "demo_nodule.png"
    code, out, err = run_cli(capsys, "evaluate", png, "--method", "all", "--json", "--steps", "4", "--out", tmp_path)
    assert code == 0, err
    rows = [json.loads(text) for text in out.splitlines()]
    assert len(rows) > 10 and not any("error" in row for row in rows)
    for row in rows:
        assert row["verdict"] in VERDICTS and row["verdict_reasons"] and all(row["verdict_reasons"])
        assert row["road"] and all(base["road"] for base in row["baselines"].values())  # both fills measured
        assert f"{row['road']['combined']:.3f} vs random" in " ".join(row["verdict_reasons"])
        assert judge_report(row) == {"verdict": row["verdict"], "verdict_reasons": row["verdict_reasons"]}
        assert f"{row['curves']['deletion_auc']:.3f} vs random" in " ".join(row["verdict_reasons"])
        if row["randomisation"]["verdict"] == "fail":
            assert row["verdict"] == "model-independent"


# ---- review (issue 17): a measured baseline that beats the map, and malformed reports ----

def test_a_baseline_that_beats_the_map_counts_even_when_another_was_not_measured():
    """The random map beats it under blur; the edge map's deletion is missing. 'Some baseline beats it' is known:
    the fill is "worse" (with ROAD tied that is not-faithful), and the reasons say the random map beats it."""
    baselines = {"random": Evidence(0.30, 0.0), "edge": Evidence(float("nan"), 0.05)}
    found = judge(Evidence(0.60, 0.06), baselines, "pass")
    assert found.verdict == "not-faithful"
    assert "the random map beats it" in found.reasons[1] and "not measured for the edge map" in found.reasons[1]
    # nothing beats it, one baseline missing: still not measured (never better, so never faithful)
    found = judge(Evidence(0.10, 0.5), baselines, "pass")
    assert found.verdict == "inconclusive" and "not measured for the edge map" in found.reasons[1]


@pytest.mark.parametrize("report", [
    {"error": "Score-CAM needs a spatial layer"},  # an evaluate row for a map that could not be made
    {"curves": None, "road": None, "randomisation": None, "baselines": None},
    {"curves": "n/a", "road": [], "randomisation": "pass", "baselines": {"random": None, "edge": "x"}},
    {"curves": {"deletion_auc": "bad"}, "road": {"combined": "nan"}, "baselines": {"random": {"curves": {}}}},
    {"curves": {"deletion_auc": True}, "road": {"combined": None}, "randomisation": {"verdict": 3}},
])
def test_judge_report_never_raises_on_a_malformed_report(report):
    found = judge_report(report)
    assert found["verdict"] in {"inconclusive", "not-faithful"} and found["verdict_reasons"]


def test_an_evaluate_row_for_a_map_that_could_not_be_made_carries_a_verdict(capsys, tmp_path):
    """--method all on a Flatten-head model: the original CAM cannot be made. Its row still carries the top-level
    "verdict" (inconclusive: nothing to judge) and the reason in words, like every other row."""
    keras = pytest.importorskip("keras")
    import cv2

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="feat")(inputs)
    outputs = keras.layers.Dense(2, activation="sigmoid")(keras.layers.Flatten()(x))
    keras.Model(inputs, outputs).save(tmp_path / "flat.keras")
    cv2.imwrite(str(tmp_path / "image.png"), np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8))
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "image.png", "--model", tmp_path / "flat.keras",
                             "--method", "all", "--json", "--steps", "4", "--out", tmp_path)
    assert code == 0, err
    rows = [json.loads(text) for text in out.splitlines()]
    failed = [row for row in rows if "error" in row]
    assert failed and all(row["verdict"] in VERDICTS and row["verdict_reasons"] for row in rows)
    assert failed[0]["verdict"] == "inconclusive" and failed[0]["error"] in failed[0]["verdict_reasons"][0]


@pytest.mark.skipif(not default_model_path().is_file(), reason="the shipped demo model is absent")
def test_every_evaluate_demo_row_carries_a_verdict_the_baselines_too(capsys):
    """The random and edge rows of evaluate --demo --json carried "verdict": null. A baseline is judged against the
    other baseline with no sanity check (it has no model to randomise), so it is never faithful."""
    code, out, err = run_cli(capsys, "evaluate", "--demo", "--count", "2", "--method", "gradcam", "--json",
                             "--steps", "4")
    assert code == 0, err
    rows = [json.loads(text) for text in out.splitlines()]
    assert {row["name"] for row in rows if row["baseline"]} == {"random", "edge"}
    for row in rows:
        assert row["verdict"] in VERDICTS and row["verdict_reasons"] and all(row["verdict_reasons"])
        if row["baseline"]:
            assert row["verdict"] != "faithful" and "baseline map" in row["verdict_reasons"][0]
