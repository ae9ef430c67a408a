"""Agreement statistics against published worked examples (and against scikit-learn / statsmodels when present)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from viewer.app.agreement import (
    agreement_with_model,
    cohen_kappa,
    cohen_kappa_table,
    fleiss_kappa,
    fleiss_kappa_counts,
    inter_reader_kappa,
    percent_agreement,
)

# Fleiss' kappa, Wikipedia "Fleiss' kappa", section "Worked example" (10 subjects, 14 raters, 5 categories);
# the page gives p_j = 0.143 0.200 0.279 0.150 0.229, P̄ = 0.378, P̄_e = 0.213 and κ = 0.210.
# https://en.wikipedia.org/wiki/Fleiss%27_kappa#Worked_example
FLEISS_WIKIPEDIA = np.array([
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
])

# Cohen's kappa, Wikipedia "Cohen's kappa", section "Simple example": 50 grant proposals read by A and B;
# both yes 20, A yes / B no 5, A no / B yes 10, both no 15: p_o = 0.7, p_e = 0.5, κ = 0.4.
# https://en.wikipedia.org/wiki/Cohen%27s_kappa#Simple_example
COHEN_WIKIPEDIA = np.array([[20, 5], [10, 15]])  # rows: A yes/no; columns: B yes/no

# Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological Bulletin 76(5): 30 patients,
# each diagnosed by 6 of the psychiatrists into 5 categories (1 depression, 2 personality disorder, 3 schizophrenia,
# 4 neurosis, 5 other); the paper gives κ = 0.430. The same data ship as `diagnoses` in R's irr package, whose
# kappam.fleiss gives 0.4302445. Rows: patients; columns: the six ratings.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]

# A 3 × 3 table whose simple κ = 0.4842 a SAS printout gives (statsmodels' test_inter_rater.py compares with it).
SAS_TABLE = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])


def _cohen_series():
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    return a, b


def _fleiss_ratings(counts):
    """One series per rater from a subjects × categories count table (rater r takes the r-th rating)."""
    per_subject = [[j for j, c in enumerate(row) for _ in range(c)] for row in counts]
    return [[per_subject[i][r] for i in range(len(counts))] for r in range(int(counts[0].sum()))]


def test_fleiss_matches_the_wikipedia_worked_example():
    kappa = fleiss_kappa_counts(FLEISS_WIKIPEDIA)
    assert round(kappa, 3) == 0.210
    p_j = FLEISS_WIKIPEDIA.sum(axis=0) / FLEISS_WIKIPEDIA.sum()
    assert np.round(p_j, 3).tolist() == [0.143, 0.200, 0.279, 0.150, 0.229]
    # The same from per-rater series (how the report calls it).
    assert fleiss_kappa(_fleiss_ratings(FLEISS_WIKIPEDIA)) == pytest.approx(kappa)


def test_cohen_matches_the_wikipedia_simple_example():
    assert cohen_kappa_table(COHEN_WIKIPEDIA) == pytest.approx(0.4)
    a, b = _cohen_series()
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert inter_reader_kappa([a, b]) == ("Cohen", pytest.approx(0.4))


def test_fleiss_matches_fleiss_1971():
    raters = [list(column) for column in zip(*FLEISS_1971, strict=True)]
    assert round(fleiss_kappa(raters), 3) == 0.430
    assert fleiss_kappa(raters) == pytest.approx(0.4302445, abs=1e-7)  # R irr's kappam.fleiss
    counts = np.array([[row.count(category) for category in range(1, 6)] for row in FLEISS_1971])
    assert counts.sum(axis=0).tolist() == [26, 26, 30, 55, 43]  # the transcription's column totals


def test_cohen_matches_the_sas_example():
    assert cohen_kappa_table(SAS_TABLE) == pytest.approx(0.4842, abs=5e-5)


def test_fleiss_for_two_raters_is_scotts_pi_not_cohen():
    """Fleiss' kappa with two raters is Scott's pi (pooled marginals): p_e = 0.5^2 + 0.5^2 ... here (45/100)^2 +
    (55/100)^2 = 0.505, so κ = (0.7 - 0.505) / 0.495 = 0.3939..., which is why two readers get Cohen's."""
    a, b = _cohen_series()
    assert fleiss_kappa([a, b]) == pytest.approx((0.7 - 0.505) / 0.495)


def test_undefined_and_degenerate_cases():
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["agree"] * 5, ["agree"] * 5) is None  # p_e = 1: 0/0
    assert cohen_kappa(["agree", "disagree"], ["disagree", "agree"]) == pytest.approx(-1.0)
    assert fleiss_kappa([["a", "b"], ["a", "b"], ["a", "b"]]) == pytest.approx(1.0)
    assert inter_reader_kappa([["a"]]) == ("", None)
    assert inter_reader_kappa([["a", "b"]] * 3)[0] == "Fleiss"
    assert percent_agreement([["a", "b", "c"], ["a", "b", "d"]]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        fleiss_kappa_counts(np.array([[2, 0], [1, 0]]))


def test_reader_against_the_model():
    # model present, reader agrees ×3; model present, reader disagrees ×1; model absent, agree ×4, disagree ×2;
    # one uncertain, one verdict on an unscored finding, one finding without a verdict.
    pairs = ([(True, "agree")] * 3 + [(True, "disagree")] + [(False, "agree")] * 4 + [(False, "disagree")] * 2
             + [(True, "uncertain"), (None, "agree"), (False, None)])
    result = agreement_with_model(pairs)
    assert (result.judged, result.agree, result.disagree, result.uncertain, result.unscored) == (10, 7, 3, 1, 1)
    assert result.percent == pytest.approx(0.7)
    # model calls: 4 present, 6 absent; reader calls: 3+2 = 5 present, 1+4 = 5 absent; table [[3, 1], [2, 4]]
    # p_o = 0.7, p_e = (4*5 + 6*5) / 100 = 0.5, κ = 0.4.
    assert result.kappa == pytest.approx(0.4)
    assert agreement_with_model([]).percent is None


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn is not installed")
def test_cohen_as_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 3, 200).tolist(), rng.integers(0, 3, 200).tolist()
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


@pytest.mark.skipif(importlib.util.find_spec("statsmodels") is None, reason="statsmodels is not installed")
def test_fleiss_as_statsmodels():
    from statsmodels.stats.inter_rater import fleiss_kappa as reference

    assert fleiss_kappa_counts(FLEISS_WIKIPEDIA) == pytest.approx(reference(FLEISS_WIKIPEDIA))
