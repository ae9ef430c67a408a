"""Agreement statistics for reader studies: Cohen's kappa (two raters), Fleiss' kappa (any number), and a reader's
agreement with the model.

Plain numpy on purpose: scikit-learn's `cohen_kappa_score` and statsmodels' `fleiss_kappa` compute the same numbers
(tests/test_agreement.py checks against them when either is installed), but neither is worth a dependency for a
dozen lines. Both kappas are checked against published worked examples in the tests.

A kappa is None when it is undefined: fewer than one rated item, or chance agreement of 1 (every rating in one
category), where (p_o - p_e) / (1 - p_e) is 0 / 0.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np


def _categories(*ratings: Sequence[Hashable]) -> list[Hashable]:
    seen: dict[Hashable, None] = {}
    for series in ratings:
        for value in series:
            seen.setdefault(value, None)
    return list(seen)


def confusion(a: Sequence[Hashable], b: Sequence[Hashable],
              categories: Sequence[Hashable] | None = None) -> tuple[np.ndarray, list[Hashable]]:
    """The k × k table of how often rater A said row i and rater B said column j."""
    if len(a) != len(b):
        raise ValueError(f"two raters rated {len(a)} and {len(b)} items: they must rate the same items")
    names = list(categories) if categories is not None else _categories(a, b)
    index = {name: i for i, name in enumerate(names)}
    table = np.zeros((len(names), len(names)), np.int64)
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    return table, names


def cohen_kappa_table(table: np.ndarray) -> float | None:
    """Cohen (1960): κ = (p_o − p_e) / (1 − p_e) from a k × k table of counts."""
    counts = np.asarray(table, np.float64)
    total = counts.sum()
    if total <= 0:
        return None
    observed = np.trace(counts) / total
    expected = float(np.dot(counts.sum(axis=1), counts.sum(axis=0))) / (total * total)
    if expected >= 1.0 - 1e-12:
        return None
    return float((observed - expected) / (1.0 - expected))


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable],
                categories: Sequence[Hashable] | None = None) -> float | None:
    """Cohen's kappa of two raters' categorical ratings of the same items (in the same order)."""
    return cohen_kappa_table(confusion(a, b, categories)[0])


def fleiss_kappa_counts(counts: np.ndarray) -> float | None:
    """Fleiss (1971): `counts[i, j]` raters put subject i in category j; every subject has the same number of
    raters n ≥ 2. κ = (P̄ − P̄_e) / (1 − P̄_e)."""
    table = np.asarray(counts, np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        return None
    raters = table.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (2 or more) of ratings for every subject")
    n = raters[0]
    subjects = table.shape[0]
    p_category = table.sum(axis=0) / (subjects * n)
    p_subject = ((table * table).sum(axis=1) - n) / (n * (n - 1))
    observed = float(p_subject.mean())
    expected = float((p_category * p_category).sum())
    if expected >= 1.0 - 1e-12:
        return None
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]], categories: Sequence[Hashable] | None = None) -> float | None:
    """Fleiss' kappa from `ratings[r][i]`: rater r's category for subject i (every rater rates every subject)."""
    if not ratings:
        return None
    subjects = len(ratings[0])
    if any(len(series) != subjects for series in ratings):
        raise ValueError("every rater must rate the same items")
    names = list(categories) if categories is not None else _categories(*ratings)
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros((subjects, len(names)), np.int64)
    for series in ratings:
        for subject, value in enumerate(series):
            counts[subject, index[value]] += 1
    return fleiss_kappa_counts(counts)


def percent_agreement(ratings: Sequence[Sequence[Hashable]]) -> float | None:
    """Share of items on which every rater gave the same category."""
    if not ratings or not ratings[0]:
        return None
    return float(np.mean([len(set(values)) == 1 for values in zip(*ratings, strict=True)]))


@dataclass(frozen=True)
class ModelAgreement:
    """One reader against the model on the findings they judged.

    The reader's own call is derived from the verdict: `agree` keeps the model's decision, `disagree` flips it;
    `uncertain` has no call, so it is left out and counted. `kappa` is Cohen's between the model's decision and the
    reader's call (present/absent): unlike the percentage it discounts agreement expected by chance (a model that
    calls everything absent and a reader who agrees is 100 % agreement, κ undefined)."""

    judged: int  # findings with agree or disagree
    agree: int
    disagree: int
    uncertain: int  # left out of the figures, reported
    unscored: int  # a verdict on a finding the session has no score for (no model decision to compare)
    percent: float | None
    kappa: float | None


def agreement_with_model(pairs: Sequence[tuple[bool | None, str | None]]) -> ModelAgreement:
    """`pairs`: (the model's decision, present = True; None when unscored, the reader's verdict or None)."""
    model: list[bool] = []
    reader: list[bool] = []
    uncertain = unscored = 0
    for decision, verdict in pairs:
        if verdict is None:
            continue
        if verdict == "uncertain":
            uncertain += 1
            continue
        if decision is None:
            unscored += 1
            continue
        model.append(decision)
        reader.append(decision if verdict == "agree" else not decision)
    agree = sum(m == r for m, r in zip(model, reader, strict=True))
    judged = len(model)
    return ModelAgreement(judged, agree, judged - agree, uncertain, unscored,
                          agree / judged if judged else None,
                          cohen_kappa(model, reader, categories=[True, False]) if judged else None)


def inter_reader_kappa(ratings: Sequence[Sequence[Hashable]],
                       categories: Sequence[Hashable] | None = None) -> tuple[str, float | None]:
    """The kappa a study reports for `ratings` (one series per reader, same items): Cohen's for two readers,
    Fleiss' for more; ("", None) for fewer than two."""
    if len(ratings) < 2:
        return "", None
    if len(ratings) == 2:
        return "Cohen", cohen_kappa(ratings[0], ratings[1], categories)
    return "Fleiss", fleiss_kappa(ratings, categories)
