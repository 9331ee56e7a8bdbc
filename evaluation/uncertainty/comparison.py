"""Paired significance tests of two submissions on the same queries (bootstrap or permutation), and
the leaderboard's ties: each entry not significantly behind the entry above it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..metrics.registry import METRIC_KEYS
from ..scoring import AGGREGATIONS, overall_score
from .checks import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    HIGHER_IS_BETTER,
    METHOD_MESSAGE,
    METHODS,
    NOT_COMPUTABLE_MESSAGE,
    PAIRED_GROUPS_MESSAGE,
    PAIRED_LENGTH_MESSAGE,
    PERMUTATION_METRIC_MESSAGE,
    PRIMARY_METRIC,
    RECALL_CUTOFFS,
    UNKNOWN_METRIC_MESSAGE,
    _check_level,
    _check_metric,
    _check_resamples,
    _check_seed,
    higher_is_better,
    is_value_metric,
)
from .resampling import (
    _aggregate,
    _dataset_samples,
    _geometric_means,
    _replicates_of,
    _Sample,
    dataset_stream,
    percentile_interval,
    resample_counts,
)


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of submission A with submission B on the same queries.

    Attributes:
        metric: the compared metric.
        difference: metric(A) - metric(B) on the full sample.
        low, high: percentile bootstrap interval of the difference (the permutation test gives none:
            both None).
        p_value: two-sided p-value of "no difference".
        significant: p_value < 1 - level.
        a_better: A significantly better than B, in the metric's direction.
        b_better: B significantly better than A.
        level: the confidence level.
        method: "bootstrap" or "permutation".
    """

    metric: str
    difference: float
    low: float | None
    high: float | None
    p_value: float
    significant: bool
    a_better: bool
    b_better: bool
    level: float
    method: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the fields."""
        return asdict(self)


def _p_value(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "no difference", with the (1 + count) / (1 + B) correction."""
    resamples = differences.size
    not_above = (1 + int(np.count_nonzero(differences <= 0))) / (resamples + 1)
    not_below = (1 + int(np.count_nonzero(differences >= 0))) / (resamples + 1)
    return min(1.0, 2.0 * min(not_above, not_below))


def _comparison(
    metric: str, difference: float, replicates: np.ndarray | None, p_value: float, level: float, method: str
) -> Comparison:
    low = high = None
    if replicates is not None:
        low, high = percentile_interval(replicates, level)
    significant = p_value < 1.0 - level
    a_ahead = difference > 0 if higher_is_better(metric) else difference < 0
    b_ahead = difference < 0 if higher_is_better(metric) else difference > 0
    return Comparison(
        metric=metric,
        difference=float(difference),
        low=low,
        high=high,
        p_value=float(p_value),
        significant=significant,
        a_better=significant and a_ahead,
        b_better=significant and b_ahead,
        level=level,
        method=method,
    )


def _paired_samples(
    ranks_a: Any, ranks_b: Any, groups: Any, topk: int | None, values: tuple[Any, Any] = (None, None)
) -> tuple[_Sample, _Sample]:
    a, b = np.asarray(ranks_a), np.asarray(ranks_b)
    if a.shape != b.shape:
        raise ValueError(PAIRED_LENGTH_MESSAGE.format(a=a.size, b=b.size))
    return _Sample.build(a, groups, topk, values[0]), _Sample.build(b, groups, topk, values[1])


def _permutation_differences(a: _Sample, b: _Sample, metric: str, flips: np.ndarray) -> np.ndarray:
    """metric(A*) - metric(B*) when each unit's A and B ranks are swapped where `flips` is 1."""
    flips = flips.astype(np.float64)
    totals = a.sizes.sum()
    if is_value_metric(metric):  # a weighted mean, like a recall: swap the units' value sums
        sums_a = a.value_sums[:, a.values.column(metric)]
        sums_b = b.value_sums[:, b.values.column(metric)]
        swapped = flips @ (sums_a - sums_b)
        shares: np.ndarray = 100.0 * ((sums_a.sum() - swapped) - (sums_b.sum() + swapped)) / totals
        return shares
    if metric == "MeanR":
        if a.rank_sums is None or b.rank_sums is None:  # top-k ranks: `computable` refuses MeanR
            raise ValueError(NOT_COMPUTABLE_MESSAGE.format(metric=metric, topk=a.topk))
        swapped = flips @ (a.rank_sums - b.rank_sums)
        mean_ranks: np.ndarray = ((a.rank_sums.sum() - swapped) - (b.rank_sums.sum() + swapped)) / totals
        return mean_ranks
    swapped = flips @ (a.hits - b.hits)
    recalls_a = 100.0 * (a.hits.sum(axis=0) - swapped) / totals
    recalls_b = 100.0 * (b.hits.sum(axis=0) + swapped) / totals
    if metric in RECALL_CUTOFFS:
        column = list(RECALL_CUTOFFS).index(metric)
        recalls: np.ndarray = recalls_a[:, column] - recalls_b[:, column]
        return recalls
    means: np.ndarray = _geometric_means(recalls_a) - _geometric_means(recalls_b)
    return means


def paired_comparison(
    ranks_a: Any,
    ranks_b: Any,
    *,
    groups: Any | None = None,
    topk: int | None = None,
    values_a: Any | None = None,
    values_b: Any | None = None,
    metric: str = PRIMARY_METRIC,
    method: str = "bootstrap",
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    stream: int = 0,
) -> Comparison:
    """Is submission A better than submission B on the same queries of one dataset?

    ``method="bootstrap"``: both are resampled with the same counts (the paired bootstrap); the
    p-value is twice the smaller share of resamples on either side of 0 (with the +1 correction),
    and the interval is that of the difference. ``method="permutation"``: each unit's A and B ranks
    are swapped at random (a Monte Carlo sign-flip test, valid at any sample size when the two are
    exchangeable; it gives no interval, and no test of MedR).

    Args:
        ranks_a, ranks_b: (Q,) ranks of the two submissions, same queries, same order.
        groups, topk: as `dataset_intervals`; shared by both.
        values_a, values_b: the relevance metrics' per-query values of each ({key: (Q,) values}), as
            `dataset_intervals`; needed when `metric` is a relevance metric.
        metric: a scorer metric key (a relevance metric among them); the primary score by default.
        method: "bootstrap" or "permutation".
        level: the test's confidence level (significant when p < 1 - level).
        resamples: resamples or random label swaps.
        seed, stream: select the draws.
    Returns:
        A `Comparison`.

    >>> a = np.zeros(50); b = np.r_[np.zeros(10), np.full(40, 20.0)]
    >>> paired_comparison(a, b, metric="R1", resamples=200).a_better
    True
    """
    level = _check_level(level)
    if method not in METHODS:
        raise ValueError(METHOD_MESSAGE.format(method=method, known=", ".join(METHODS)))
    if metric not in HIGHER_IS_BETTER and not is_value_metric(metric):
        raise ValueError(UNKNOWN_METRIC_MESSAGE.format(metric=metric, known=", ".join(METRIC_KEYS)))
    a, b = _paired_samples(ranks_a, ranks_b, groups, topk, (values_a, values_b))
    if not a.computable(metric) or not b.computable(metric):
        raise ValueError(NOT_COMPUTABLE_MESSAGE.format(metric=metric, topk=topk))
    difference = a.estimate(metric) - b.estimate(metric)
    if method == "permutation":
        if metric == "MedR":
            raise ValueError(PERMUTATION_METRIC_MESSAGE.format(metric=metric))
        resamples = _check_resamples(resamples)
        seed = _check_seed(seed)
        rng = np.random.default_rng(np.random.SeedSequence([seed, int(stream) & 0xFFFFFFFF, 2**31]))
        flips = rng.integers(0, 2, size=(resamples, a.units), dtype=np.int8)
        permuted = _permutation_differences(a, b, metric, flips)
        # A small tolerance: the observed statistic recomputed under no swap differs by rounding only.
        extreme = np.count_nonzero(np.abs(permuted) >= abs(difference) - 1e-9 * max(1.0, abs(difference)))
        p_value = (1 + int(extreme)) / (resamples + 1)
        return _comparison(metric, difference, None, p_value, level, method)
    counts = resample_counts(a.units, resamples, seed=seed, stream=stream)
    differences = _replicates_of(a, counts, metric) - _replicates_of(b, counts, metric)
    return _comparison(metric, difference, differences, _p_value(differences), level, method)


@dataclass(frozen=True)
class _Scored:
    """One submission's primary score per dataset: estimate and replicates.

    A top-k entry and a full-ranking entry compare fine: both give R1, R5 and R10 exactly.
    """

    estimates: dict[str, float]
    replicates: dict[str, np.ndarray]


def _score_entries(
    entries: Sequence[Mapping[str, Mapping[str, Any]]],
    resamples: int,
    seed: int,
    metric: str = PRIMARY_METRIC,
) -> list[_Scored]:
    """Every entry's score replicates, one dataset at a time with draws shared by all entries.

    Only one dataset's counts are held at once, so memory is that of the largest dataset.
    """
    scored = [_Scored({}, {}) for _ in entries]
    names = list(dict.fromkeys(name for entry in entries for name in entry))
    for name in names:
        counts: np.ndarray | None = None
        layout: _Sample | None = None
        for entry, out in zip(entries, scored, strict=True):
            if name not in entry:
                continue
            sample, _ = _dataset_samples(name, {**entry[name], "v2t": None})
            if not sample.computable(metric):  # e.g. a relevance metric whose values were not kept
                continue
            if layout is None or counts is None:  # the first of this dataset's entries (set together)
                layout = sample
                counts = resample_counts(sample.units, resamples, seed=seed, stream=dataset_stream(name))
            elif not layout.same_queries(sample):
                raise ValueError(f"dataset {name}: {PAIRED_GROUPS_MESSAGE}")
            out.estimates[name] = sample.estimate(metric)
            out.replicates[name] = _replicates_of(sample, counts, metric)
    return scored


def _compare_scored(
    a: _Scored, b: _Scored, phase: Sequence[str], aggregation: str, level: float, metric: str = PRIMARY_METRIC
) -> dict[str, Any]:
    datasets: dict[str, Any] = {}
    for name in a.estimates:
        if name not in b.estimates:
            continue
        differences = a.replicates[name] - b.replicates[name]
        difference = a.estimates[name] - b.estimates[name]
        datasets[name] = _comparison(
            metric, difference, differences, _p_value(differences), level, "bootstrap"
        ).as_dict()
    overall = None
    score_a = overall_score(a.estimates, list(phase), aggregation)
    score_b = overall_score(b.estimates, list(phase), aggregation)
    if score_a is not None and score_b is not None:
        differences = _aggregate(a.replicates, phase, aggregation) - _aggregate(
            b.replicates, phase, aggregation
        )
        overall = _comparison(
            metric, score_a - score_b, differences, _p_value(differences), level, "bootstrap"
        ).as_dict()
    return {"datasets": datasets, "overall_score": overall}


def compare_submissions(
    ranks_a: Mapping[str, Mapping[str, Any]],
    ranks_b: Mapping[str, Mapping[str, Any]],
    *,
    phase_datasets: Sequence[str] | None = None,
    aggregation: str = "mean",
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    metric: str = PRIMARY_METRIC,
) -> dict[str, Any]:
    """Paired bootstrap of the primary score, per dataset and overall, of two submissions of a phase.

    Args:
        ranks_a, ranks_b: the `submission_intervals` layout, for the same phase.
        phase_datasets: the phase's datasets (default: those of A); the overall comparison is None
            unless both have every one.
        aggregation, level, resamples, seed, metric: as `submission_intervals`.
    Returns:
        {"datasets": {name: Comparison dict}, "overall_score": Comparison dict or None}; the
        differences are A minus B.
    Raises:
        ValueError: the two submissions' queries of a dataset differ.
    """
    level = _check_level(level)
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")
    _check_metric(metric)
    phase = list(ranks_a) if phase_datasets is None else list(phase_datasets)
    scored_a, scored_b = _score_entries(
        [ranks_a, ranks_b], _check_resamples(resamples), _check_seed(seed), metric
    )
    return _compare_scored(scored_a, scored_b, phase, aggregation, level, metric)


def leaderboard_ties(
    entries: Sequence[Mapping[str, Mapping[str, Any]]],
    *,
    phase_datasets: Sequence[str],
    aggregation: str = "mean",
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    metric: str = PRIMARY_METRIC,
) -> list[dict[str, Any]]:
    """Mark each leaderboard entry that is not significantly behind the entry above it.

    Each entry's score replicates are computed once with draws shared by all entries, so every
    pair is a paired bootstrap and N entries cost N scorings, not N squared.

    Args:
        entries: the per-query ranks of the top entries in leaderboard order, best first, each in
            the `submission_intervals` layout.
        phase_datasets: the phase's datasets; the overall score needs all of them.
        aggregation, level, resamples, seed, metric: as `submission_intervals`.
    Returns:
        One dict per entry: "tied_within_noise" (the entry above is not significantly better on the
        overall score; False for the first entry and for entries without an overall score),
        "vs_above" and "vs_first" (the entry above, resp. the first, minus this one: overall
        Comparison dicts, None for the first entry or without overall scores).

    >>> good = {"D": {"t2v": np.zeros(40), "groups": None}}
    >>> close = {"D": {"t2v": np.r_[np.zeros(39), 9.0], "groups": None}}
    >>> far = {"D": {"t2v": np.full(40, 30.0), "groups": None}}
    >>> marks = leaderboard_ties([good, close, far], phase_datasets=["D"], resamples=200)
    >>> [mark["tied_within_noise"] for mark in marks]
    [False, True, False]
    """
    level = _check_level(level)
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")
    _check_metric(metric)
    phase = list(phase_datasets)
    scored = _score_entries(entries, _check_resamples(resamples), _check_seed(seed), metric)
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(scored):
        vs_above = vs_first = None
        if index > 0:
            above = _compare_scored(scored[index - 1], entry, phase, aggregation, level, metric)
            vs_above = above["overall_score"]
            vs_first = _compare_scored(scored[0], entry, phase, aggregation, level, metric)["overall_score"]
        tied = vs_above is not None and not vs_above["a_better"]
        out.append({"tied_within_noise": tied, "vs_above": vs_above, "vs_first": vs_first})
    return out
