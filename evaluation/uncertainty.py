"""How certain a score is: bootstrap confidence intervals and paired significance tests (pure numpy).

Every number the scorer reports is a statistic of per-query ranks, so its sampling noise can be
measured by resampling the queries. Draws are resample *counts*: how often each unit (a query, or a
video with all its captions) is picked in one resample, generated from a seed by `resample_counts`.
A recall on every resample is then a weighted hit count (``counts @ hits_per_unit``), a mean rank a
weighted rank sum, a median a weighted quantile of the sorted ranks: no Python loop over queries.

Where a dataset has several captions per video (MSRVTT, MSVD), the captions of one video are not
independent samples, so the *grouped* bootstrap resamples videos with all their captions; passing
``groups`` (each query's ground-truth video) selects it. With one caption per video it equals the
plain bootstrap over queries.

Intervals are percentile intervals; the paired test resamples both submissions with the same counts
(or flips their labels per unit, `paired_comparison(method="permutation")`) and gives a two-sided
p-value for the difference. `leaderboard_ties` marks each leaderboard entry that is not
significantly behind the entry above it.

>>> ranks = np.array([0.0, 0.0, 3.0, 12.0, 0.5, 7.0, 0.0, 60.0])
>>> interval = dataset_intervals(ranks, resamples=200, seed=1)["R1"]
>>> interval.low <= interval.estimate == 37.5 <= interval.high
True
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .metrics.retrieval import GEOMETRIC_MEAN_KEY, METRIC_KEYS, metrics_from_ranks
from .scoring import AGGREGATIONS, overall_score

DEFAULT_LEVEL = 0.95
DEFAULT_RESAMPLES = 1000
PRIMARY_METRIC = GEOMETRIC_MEAN_KEY
METHODS = ("bootstrap", "permutation")
#: Which way is better for each metric (the scorer's keys).
HIGHER_IS_BETTER: dict[str, bool] = {
    "R1": True,
    "R5": True,
    "R10": True,
    "R50": True,
    "MedR": False,
    "MeanR": False,
    GEOMETRIC_MEAN_KEY: True,
}
#: A query counts for R@K when its 0-based rank is below K (R1: exactly 0, as `metrics_from_ranks`).
RECALL_CUTOFFS: dict[str, int] = {"R1": 1, "R5": 5, "R10": 10, "R50": 50}

LEVEL_MESSAGE = "The confidence level must be a number strictly between 0 and 1, such as 0.95; got {level!r}."
RESAMPLES_MESSAGE = (
    "The number of resamples must be a whole number of at least 1 (1000 or 2000 is usual); got {resamples!r}."
)
SEED_MESSAGE = "The seed must be a non-negative whole number; got {seed!r}."
TOPK_MESSAGE = (
    "topk must be a positive whole number (the length of the submitted lists) or None; got {topk!r}."
)
EMPTY_RANKS_MESSAGE = "No ranks were given; at least one query's rank is needed."
RANKS_SHAPE_MESSAGE = "Ranks must be a one-dimensional array with one rank per query; got shape {shape}."
NAN_RANKS_MESSAGE = "Ranks hold NaN or negative values; expected 0-based ranks, 0 or more."
INFINITE_RANKS_MESSAGE = (
    "Ranks hold infinite values; expected finite ranks (infinity marks a query whose video is not"
    " in its top-k list, and is allowed only when topk is given)."
)
GROUPS_LENGTH_MESSAGE = (
    "groups has {groups} entries but there are {ranks} ranks; expected one group (the query's video)"
    " per query."
)
COUNTS_SHAPE_MESSAGE = (
    "counts has shape {shape}; expected (resamples, {units}): one column per resampled unit"
    " (a query, or a group of queries when groups are given)."
)
UNKNOWN_METRIC_MESSAGE = "Unknown metric {metric!r}; expected one of {known}."
NOT_COMPUTABLE_MESSAGE = (
    "The metric {metric} cannot be computed from top-{topk} lists; expected a metric they hold."
)
PAIRED_LENGTH_MESSAGE = (
    "The two submissions have {a} and {b} ranks; a paired comparison needs the same queries in the same"
    " order."
)
PAIRED_GROUPS_MESSAGE = (
    "The two submissions group their queries differently; a paired comparison needs the same groups."
)
METHOD_MESSAGE = "Unknown test method {method!r}; expected one of {known}."
PERMUTATION_METRIC_MESSAGE = (
    "The permutation test is implemented for recalls, their geometric mean and the mean rank; got {metric}."
    " Use the bootstrap for the median rank."
)
MISSING_RANKS_MESSAGE = (
    "The ranks of dataset {dataset} have no t2v entry; expected the scorer's ranks_out layout."
)

# Resamples drawn from one child seed. Part of the definition of the draws: changing it changes them.
_DRAW_BLOCK = 128
# Resamples processed together; bounds the memory of the median's cumulative weights.
_WORK_BLOCK = 512
# Half-width of the slice of sorted ranks searched for resampled medians, in bounds of its standard
# deviation; a resample whose median falls outside is recomputed on all ranks, so this is speed only.
_MEDIAN_WINDOW_SDS = 6.0
# Use the per-unit histogram of the window's distinct ranks when units x values is at most this many
# times the window's queries (a matrix product costs far less per element than a cumulative sum).
_HISTOGRAM_COST_RATIO = 16


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile bootstrap interval at `level`."""

    estimate: float
    low: float
    high: float
    level: float

    def as_dict(self) -> dict[str, float]:
        """A JSON-serialisable dict: estimate, low, high, level."""
        return asdict(self)


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


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise ValueError(LEVEL_MESSAGE.format(level=level))
    return float(level)


def _check_resamples(resamples: int) -> int:
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer) or resamples < 1:
        raise ValueError(RESAMPLES_MESSAGE.format(resamples=resamples))
    return int(resamples)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(SEED_MESSAGE.format(seed=seed))
    return int(seed)


def _check_metric(metric: str) -> str:
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(UNKNOWN_METRIC_MESSAGE.format(metric=metric, known=", ".join(METRIC_KEYS)))
    return metric


def _check_topk(topk: int | None) -> int | None:
    if topk is None:
        return None
    if isinstance(topk, bool) or not isinstance(topk, int | np.integer) or topk < 1:
        raise ValueError(TOPK_MESSAGE.format(topk=topk))
    return int(topk)


def dataset_stream(name: str) -> int:
    """The draw stream of a dataset: fixed by its name, so its draws do not depend on the others.

    >>> dataset_stream("MSRVTT") == dataset_stream("MSRVTT") != dataset_stream("MSVD")
    True
    """
    return zlib.crc32(name.encode("utf-8"))


def resample_counts(units: int, resamples: int, *, seed: int = 0, stream: int = 0) -> np.ndarray:
    """How often each of `units` units is picked in each of `resamples` bootstrap resamples.

    Each row is one multinomial draw of `units` picks with equal probabilities (uniform indices,
    counted), so every row sums to `units`. Rows come in blocks of 128, each from its own child seed
    ``(seed, stream, block)``: the draws are reproducible, and the same for every caller (this
    function defines them; the statistics take them as input).

    Args:
        units: resampled units (queries, or videos with their captions), at least 1.
        resamples: rows.
        seed: non-negative seed.
        stream: separates independent draws under one seed (e.g. one per dataset, `dataset_stream`).
    Returns:
        (resamples, units) int32 counts.

    >>> counts = resample_counts(5, 3, seed=7)
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((3, 5), [5, 5, 5])
    >>> bool((resample_counts(5, 3, seed=7) == counts).all())
    True
    """
    resamples = _check_resamples(resamples)
    seed = _check_seed(seed)
    if isinstance(units, bool) or not isinstance(units, int | np.integer) or units < 1:
        raise ValueError(EMPTY_RANKS_MESSAGE)
    units = int(units)
    out = np.empty((resamples, units), dtype=np.int32)
    small = units <= 2**16  # 16-bit picks are generated twice as fast
    offsets = np.arange(_DRAW_BLOCK, dtype=np.int64)[:, None] * units
    for block, start in enumerate(range(0, resamples, _DRAW_BLOCK)):
        rows = min(_DRAW_BLOCK, resamples - start)
        rng = np.random.default_rng(np.random.SeedSequence([seed, int(stream) & 0xFFFFFFFF, block]))
        if small:
            picks = rng.integers(0, units, size=(rows, units), dtype=np.uint16)
            for row in range(rows):
                out[start + row] = np.bincount(picks[row], minlength=units)
            continue
        wide = rng.integers(0, units, size=(rows, units), dtype=np.int64)
        wide += offsets[:rows]
        out[start : start + rows] = np.bincount(wide.ravel(), minlength=rows * units).reshape(rows, units)
    return out


@dataclass(frozen=True)
class _Sample:
    """Per-query ranks reduced to per-unit sums, plus what the median search needs."""

    ranks: np.ndarray  # (Q,) float64
    unit_of: np.ndarray  # (Q,) intp: each query's unit
    units: int
    sizes: np.ndarray  # (U,) float64: queries per unit
    hits: np.ndarray  # (U, 4) float64: hits below each recall cut-off, per unit
    rank_sums: np.ndarray | None  # (U,) float64; None for top-k ranks
    topk: int | None

    @property
    def columns(self) -> np.ndarray:
        """(U, 6): sizes, the four recall hit counts, rank sums (0 for top-k), for one matrix product."""
        rank_sums = np.zeros(self.units) if self.rank_sums is None else self.rank_sums
        return np.column_stack([self.sizes, self.hits, rank_sums])

    @classmethod
    def build(cls, ranks: Any, groups: Any | None = None, topk: int | None = None) -> _Sample:
        topk = _check_topk(topk)
        ranks = np.asarray(ranks, dtype=np.float64)
        if ranks.ndim != 1:
            raise ValueError(RANKS_SHAPE_MESSAGE.format(shape=ranks.shape))
        if ranks.size == 0:
            raise ValueError(EMPTY_RANKS_MESSAGE)
        if np.isnan(ranks).any() or (ranks < 0).any():
            raise ValueError(NAN_RANKS_MESSAGE)
        if topk is None and np.isinf(ranks).any():
            raise ValueError(INFINITE_RANKS_MESSAGE)
        if groups is None:
            unit_of = np.arange(ranks.size)
        else:
            groups = np.asarray(groups)
            if groups.shape != ranks.shape:
                raise ValueError(GROUPS_LENGTH_MESSAGE.format(groups=groups.size, ranks=ranks.size))
            _, unit_of = np.unique(groups, return_inverse=True)
            unit_of = unit_of.reshape(-1)
        units = int(unit_of.max()) + 1
        sizes = np.bincount(unit_of, minlength=units).astype(np.float64)
        hits = np.stack(
            [
                np.bincount(
                    unit_of, weights=(ranks == 0) if key == "R1" else (ranks < cutoff), minlength=units
                )
                for key, cutoff in RECALL_CUTOFFS.items()
            ],
            axis=1,
        )
        rank_sums = None if topk is not None else np.bincount(unit_of, weights=ranks, minlength=units)
        return cls(ranks, unit_of, units, sizes, hits, rank_sums, topk)

    def same_queries(self, other: _Sample) -> bool:
        return self.units == other.units and np.array_equal(self.unit_of, other.unit_of)

    def computable(self, metric: str) -> bool:
        """What `evaluation.metrics.topk_metrics` reports for top-k lists (everything for full ranks)."""
        if self.topk is None:
            return True
        if metric in RECALL_CUTOFFS:
            return RECALL_CUTOFFS[metric] <= self.topk
        return metric == GEOMETRIC_MEAN_KEY and self.topk >= 10

    def estimates(self) -> dict[str, float | None]:
        """The metrics of the full sample, exactly as the scorer computes them."""
        ranks = (
            self.ranks if self.topk is None else np.where(np.isinf(self.ranks), float(self.topk), self.ranks)
        )
        full = metrics_from_ranks(ranks)
        return {key: full[key] if self.computable(key) else None for key in METRIC_KEYS}


class _MedianSearch:
    """Resampled medians as weighted quantiles of the sorted ranks, searched in a window.

    In the original sorted order, a resample's median lies near the middle: its offset has standard
    deviation about ``sqrt(sum over units of (queries below the middle - size / 2) ** 2)``. Only a
    window of a few of those around the middle is searched; resamples whose median falls outside
    are recomputed on all ranks, so the window changes the speed, never the result.

    In the window, when few distinct rank values occur (the usual case: ranks are whole or half
    numbers), a resample's cumulative weight at each value is one small matrix product
    ``counts @ per-unit histogram``; otherwise the weights of the window's queries are summed.
    """

    def __init__(self, sample: _Sample) -> None:
        order = np.argsort(sample.ranks, kind="stable")
        self.sorted_ranks = sample.ranks[order]
        self.sorted_units = sample.unit_of[order]
        units, queries = sample.units, order.size
        below_middle = np.bincount(self.sorted_units[: queries // 2], minlength=units)
        spread = math.sqrt(float(np.sum((below_middle - sample.sizes / 2.0) ** 2)))
        half = int(math.ceil(_MEDIAN_WINDOW_SDS * spread)) + 2
        self.start = max(0, queries // 2 - half)
        self.stop = min(queries, queries // 2 + half + 1)
        self.below = np.bincount(self.sorted_units[: self.start], minlength=units).astype(np.float64)
        self.window_units = self.sorted_units[self.start : self.stop]
        values, value_index = np.unique(self.sorted_ranks[self.start : self.stop], return_inverse=True)
        self.histogram: np.ndarray | None = None
        if units * values.size <= _HISTOGRAM_COST_RATIO * self.window_units.size:
            self.values = values
            flat = self.window_units * values.size + value_index.reshape(-1)
            self.histogram = (
                np.bincount(flat, minlength=units * values.size)
                .reshape(units, values.size)
                .astype(np.float64)
            )
        # Resample sizes stay below units * largest unit; int32 sums are twice as fast where that fits.
        fits = units * float(sample.sizes.max()) < np.iinfo(np.int32).max
        self.dtype = np.int32 if fits else np.int64

    def _from_queries(
        self, counts: np.ndarray, units: np.ndarray, start: int, base: np.ndarray, totals: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        cumulative = np.cumsum(counts[:, units], axis=1, dtype=self.dtype)
        cumulative += base.astype(self.dtype)[:, None]
        return self._pick(cumulative, base, totals, self.sorted_ranks[start : start + units.size])

    @staticmethod
    def _pick(
        cumulative: np.ndarray, base: np.ndarray, totals: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Medians from the cumulative weights at each of `values` (ascending), and which are exact."""
        low_pos = (totals - 1) // 2
        high_pos = totals // 2
        inside = (base <= low_pos) & (cumulative[:, -1] > high_pos)
        last = values.size - 1
        low_value = values[np.minimum((cumulative <= low_pos[:, None]).sum(axis=1), last)]
        high_value = values[np.minimum((cumulative <= high_pos[:, None]).sum(axis=1), last)]
        return (low_value + high_value) / 2.0, inside

    @property
    def columns(self) -> np.ndarray:
        """(U, 1 + values): the per-unit queries before the window, then the window's histogram."""
        if self.histogram is None:
            return self.below[:, None]
        return np.column_stack([self.below, self.histogram])

    def medians(self, counts: np.ndarray, sums: np.ndarray, totals: np.ndarray) -> np.ndarray:
        """(b,) medians of the resamples with integer `counts` (b, U), ``sums = counts @ columns``
        and sizes `totals` (int64)."""
        sums = np.rint(sums).astype(np.int64)
        base = sums[:, 0]
        if self.histogram is not None:
            cumulative = np.cumsum(sums[:, 1:], axis=1)
            cumulative += base[:, None]
            medians, inside = self._pick(cumulative, base, totals, self.values)
        else:
            medians, inside = self._from_queries(counts, self.window_units, self.start, base, totals)
        if not inside.all():
            outside = ~inside
            zero = np.zeros(int(outside.sum()), dtype=np.int64)
            medians[outside], _ = self._from_queries(
                counts[outside], self.sorted_units, 0, zero, totals[outside]
            )
        return medians


def _replicates(
    sample: _Sample, counts: np.ndarray, metrics: Sequence[str] = METRIC_KEYS
) -> dict[str, np.ndarray | None]:
    if counts.ndim != 2 or counts.shape[1] != sample.units:
        raise ValueError(COUNTS_SHAPE_MESSAGE.format(shape=counts.shape, units=sample.units))
    for metric in metrics:
        if metric not in HIGHER_IS_BETTER:
            raise ValueError(UNKNOWN_METRIC_MESSAGE.format(metric=metric, known=", ".join(METRIC_KEYS)))
    wanted = [m for m in metrics if sample.computable(m)]
    resamples = counts.shape[0]
    out: dict[str, np.ndarray | None] = {m: None for m in metrics}
    for m in wanted:
        out[m] = np.empty(resamples, dtype=np.float64)
    need_median = "MedR" in wanted
    search = _MedianSearch(sample) if need_median else None
    columns = sample.columns
    if search is not None:
        columns = np.column_stack([columns, search.columns])  # one matrix product per block
    buffer = np.empty((min(resamples, _WORK_BLOCK), sample.units))  # reused: fresh pages cost more
    for start in range(0, resamples, _WORK_BLOCK):
        block = counts[start : start + _WORK_BLOCK]
        weights = buffer[: block.shape[0]]
        np.copyto(weights, block)
        sums = weights @ columns
        totals = sums[:, 0]
        recalls = 100.0 * (sums[:, 1:5] / totals[:, None])
        rows = slice(start, start + block.shape[0])
        for column, key in enumerate(RECALL_CUTOFFS):
            if key in wanted:
                out[key][rows] = recalls[:, column]
        if GEOMETRIC_MEAN_KEY in wanted:
            out[GEOMETRIC_MEAN_KEY][rows] = _geometric_means(recalls)
        if "MeanR" in wanted:
            out["MeanR"][rows] = sums[:, 5] / totals + 1.0
        if search is not None:
            out["MedR"][rows] = search.medians(block, sums[:, 6:], np.rint(totals).astype(np.int64)) + 1.0
    return out


def bootstrap_replicates(
    ranks: Any,
    counts: np.ndarray,
    *,
    groups: Any | None = None,
    topk: int | None = None,
    metrics: Sequence[str] = METRIC_KEYS,
) -> dict[str, np.ndarray | None]:
    """Every metric on every resample given by `counts`, vectorised.

    Args:
        ranks: (Q,) 0-based tie-averaged ranks (``inf`` where a top-k list misses the video).
        counts: (B, U) picks of each unit per resample, e.g. from `resample_counts`; units are the
            queries, or with `groups` the distinct groups in increasing order.
        groups: (Q,) group (ground-truth video) of each query, for the grouped bootstrap.
        topk: length of the top-k lists the ranks come from; None for full rankings.
        metrics: which of the scorer's metric keys to compute.
    Returns:
        {metric: (B,) float64 values, or None where top-k lists cannot give the metric}.
    Raises:
        ValueError: bad ranks, groups, counts or metric names.

    >>> bootstrap_replicates(np.array([0.0, 3.0]), np.array([[2, 0], [1, 1]]), metrics=["R1"])["R1"].tolist()
    [100.0, 50.0]
    """
    sample = _Sample.build(ranks, groups, topk)
    return _replicates(sample, np.asarray(counts), metrics)


def percentile_interval(replicates: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The ((1 - level) / 2, (1 + level) / 2) quantiles of the replicates (linear interpolation).

    >>> percentile_interval(np.arange(101.0), 0.5)
    (25.0, 75.0)
    """
    level = _check_level(level)
    low, high = np.quantile(np.asarray(replicates, dtype=np.float64), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _intervals(
    sample: _Sample, counts: np.ndarray, level: float, metrics: Sequence[str] = METRIC_KEYS
) -> dict[str, Interval | None]:
    estimates = sample.estimates()
    replicates = _replicates(sample, counts, metrics)
    out: dict[str, Interval | None] = {}
    for metric in metrics:
        values = replicates[metric]
        if values is None:
            out[metric] = None
            continue
        low, high = percentile_interval(values, level)
        out[metric] = Interval(estimate=float(estimates[metric]), low=low, high=high, level=level)
    return out


def dataset_intervals(
    ranks: Any,
    *,
    groups: Any | None = None,
    topk: int | None = None,
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    stream: int = 0,
) -> dict[str, Interval | None]:
    """Percentile bootstrap intervals of every metric of one dataset and direction.

    Args:
        ranks: (Q,) 0-based tie-averaged ranks, as `evaluation.metrics.retrieval_ranks` gives them
            (``inf`` for queries missing from a top-k list).
        groups: (Q,) each query's ground-truth video; when given, videos are resampled with all their
            captions (the grouped bootstrap).
        topk: length of the top-k lists; metrics they cannot give are None, as in the report.
        level: confidence level, strictly between 0 and 1.
        resamples: bootstrap resamples.
        seed, stream: select the draws (`resample_counts`).
    Returns:
        {metric key: Interval, or None where not computable}.
    Raises:
        ValueError: bad level, resamples, seed, or empty, non-finite or mismatched inputs.
    """
    level = _check_level(level)
    sample = _Sample.build(ranks, groups, topk)
    counts = resample_counts(sample.units, resamples, seed=seed, stream=stream)
    return _intervals(sample, counts, level)


def _dataset_samples(name: str, entry: Mapping[str, Any]) -> tuple[_Sample, _Sample | None]:
    if entry.get("t2v") is None:
        raise ValueError(MISSING_RANKS_MESSAGE.format(dataset=name))
    topk = entry.get("topk")
    t2v = _Sample.build(entry["t2v"], entry.get("groups"), topk)
    v2t = entry.get("v2t")
    return t2v, (None if v2t is None else _Sample.build(v2t))


def _v2t_counts(t2v: _Sample, v2t: _Sample, t2v_counts: np.ndarray, groups: Any, **draw: Any) -> np.ndarray:
    """The t2v draws when they resample exactly the videos v2t ranks (unit u = video u), else fresh ones."""
    if groups is not None and t2v.units == v2t.units:
        distinct = np.unique(np.asarray(groups))
        if np.array_equal(distinct, np.arange(v2t.units)):
            return t2v_counts
    return resample_counts(v2t.units, t2v_counts.shape[0], seed=draw["seed"], stream=draw["stream"] + 1)


def submission_intervals(
    ranks: Mapping[str, Mapping[str, Any]],
    *,
    phase_datasets: Sequence[str] | None = None,
    aggregation: str = "mean",
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    metric: str = PRIMARY_METRIC,
) -> dict[str, Any]:
    """Intervals for every metric of every dataset and for the overall score of one submission.

    Each dataset is resampled independently (its own draw stream, `dataset_stream`), grouped by
    video where ``groups`` are given; the overall score's replicates aggregate the datasets' score
    replicates as the phase does (`evaluation.scoring.overall_score`).

    Args:
        ranks: {dataset: {"t2v": (Q,) ranks, "v2t": (V,) ranks or None, "groups": (Q,) video per
            query or None, "topk": list length or None}}, the layout `score_submission(ranks_out=...)`
            fills and `unpack_ranks` returns.
        phase_datasets: the phase's datasets (default: those given); the overall interval is None
            unless every one has a score, as the overall score is.
        aggregation: "mean" or "sum".
        level, resamples, seed: as `dataset_intervals`.
        metric: the per-dataset score the overall score aggregates (the challenge's primary metric,
            a t2v metric key; the geometric mean of R1, R5, R10 by default).
    Returns:
        A JSON-serialisable dict: method, level, resamples, seed, aggregation, metric, datasets {name:
        {"grouped", "units", "t2v": {metric: interval dict or None}, "v2t": ... or None, "score":
        interval dict or None}}, overall_score (interval dict or None).
    """
    level = _check_level(level)
    resamples = _check_resamples(resamples)
    _check_metric(metric)
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")
    phase = list(ranks) if phase_datasets is None else list(phase_datasets)
    datasets: dict[str, Any] = {}
    score_estimates: dict[str, float] = {}
    score_replicates: dict[str, np.ndarray] = {}
    for name, entry in ranks.items():
        t2v, v2t = _dataset_samples(name, entry)
        stream = dataset_stream(name)
        counts = resample_counts(t2v.units, resamples, seed=seed, stream=stream)
        estimates = t2v.estimates()
        replicates = _replicates(t2v, counts)
        t2v_out: dict[str, Any] = {}
        for key in METRIC_KEYS:
            values = replicates[key]
            if values is None:
                t2v_out[key] = None
                continue
            low, high = percentile_interval(values, level)
            t2v_out[key] = Interval(float(estimates[key]), low, high, level).as_dict()
        v2t_out = None
        if v2t is not None:
            v2t_counts = _v2t_counts(t2v, v2t, counts, entry.get("groups"), seed=seed, stream=stream)
            v2t_out = {
                key: None if found is None else found.as_dict()
                for key, found in _intervals(v2t, v2t_counts, level).items()
            }
        datasets[name] = {
            "grouped": entry.get("groups") is not None,
            "units": t2v.units,
            "t2v": t2v_out,
            "v2t": v2t_out,
            "score": t2v_out[metric],
        }
        if replicates[metric] is not None:
            score_estimates[name] = float(estimates[metric])
            score_replicates[name] = replicates[metric]
    overall = None
    estimate = overall_score(score_estimates, phase, aggregation)
    if estimate is not None:
        low, high = percentile_interval(_aggregate(score_replicates, phase, aggregation), level)
        overall = Interval(estimate, low, high, level).as_dict()
    return {
        "method": "percentile bootstrap",
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "aggregation": aggregation,
        "metric": metric,
        "datasets": datasets,
        "overall_score": overall,
    }


def _aggregate(replicates: Mapping[str, np.ndarray], phase: Sequence[str], aggregation: str) -> np.ndarray:
    total = np.sum([replicates[name] for name in phase], axis=0)
    return total / len(phase) if aggregation == "mean" else total


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
    a_ahead = difference > 0 if HIGHER_IS_BETTER[metric] else difference < 0
    b_ahead = difference < 0 if HIGHER_IS_BETTER[metric] else difference > 0
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


def _paired_samples(ranks_a: Any, ranks_b: Any, groups: Any, topk: int | None) -> tuple[_Sample, _Sample]:
    a, b = np.asarray(ranks_a), np.asarray(ranks_b)
    if a.shape != b.shape:
        raise ValueError(PAIRED_LENGTH_MESSAGE.format(a=a.size, b=b.size))
    return _Sample.build(a, groups, topk), _Sample.build(b, groups, topk)


def _permutation_differences(a: _Sample, b: _Sample, metric: str, flips: np.ndarray) -> np.ndarray:
    """metric(A*) - metric(B*) when each unit's A and B ranks are swapped where `flips` is 1."""
    flips = flips.astype(np.float64)
    totals = a.sizes.sum()
    if metric == "MeanR":
        swapped = flips @ (a.rank_sums - b.rank_sums)
        return ((a.rank_sums.sum() - swapped) - (b.rank_sums.sum() + swapped)) / totals
    swapped = flips @ (a.hits - b.hits)
    recalls_a = 100.0 * (a.hits.sum(axis=0) - swapped) / totals
    recalls_b = 100.0 * (b.hits.sum(axis=0) + swapped) / totals
    if metric in RECALL_CUTOFFS:
        column = list(RECALL_CUTOFFS).index(metric)
        return recalls_a[:, column] - recalls_b[:, column]
    return _geometric_means(recalls_a) - _geometric_means(recalls_b)


def _geometric_means(recalls: np.ndarray) -> np.ndarray:
    product = recalls[:, 0] * recalls[:, 1] * recalls[:, 2]
    positive = product > 0
    return np.where(positive, np.where(positive, product, 1.0) ** (1.0 / 3.0), 0.0)


def paired_comparison(
    ranks_a: Any,
    ranks_b: Any,
    *,
    groups: Any | None = None,
    topk: int | None = None,
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
        metric: a scorer metric key; the primary score by default.
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
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(UNKNOWN_METRIC_MESSAGE.format(metric=metric, known=", ".join(METRIC_KEYS)))
    a, b = _paired_samples(ranks_a, ranks_b, groups, topk)
    if not a.computable(metric):
        raise ValueError(NOT_COMPUTABLE_MESSAGE.format(metric=metric, topk=topk))
    difference = float(a.estimates()[metric]) - float(b.estimates()[metric])
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
    differences = _replicates(a, counts, [metric])[metric] - _replicates(b, counts, [metric])[metric]
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
            if not sample.computable(metric):
                continue
            if layout is None:
                layout = sample
                counts = resample_counts(sample.units, resamples, seed=seed, stream=dataset_stream(name))
            elif not layout.same_queries(sample):
                raise ValueError(f"dataset {name}: {PAIRED_GROUPS_MESSAGE}")
            out.estimates[name] = float(sample.estimates()[metric])
            out.replicates[name] = _replicates(sample, counts, [metric])[metric]
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


#: Version of the `pack_ranks` layout, stored in the blob.
RANKS_FORMAT_VERSION = 1
HALF_RANKS_MESSAGE = (
    "Ranks of dataset {dataset} ({direction}) are not whole or half numbers; expected tie-averaged ranks,"
    " which are multiples of 0.5."
)
RANKS_TOO_LARGE_MESSAGE = "Ranks of dataset {dataset} ({direction}) exceed 2**31; expected ranks below that."
PACKED_GROUPS_MESSAGE = "Groups of dataset {dataset} must be whole numbers from 0 below 2**32; got others."
UNREADABLE_RANKS_MESSAGE = (
    "The stored ranks could not be read ({reason}); expected a blob written by pack_ranks."
)


def _encode_ranks(ranks: Any, dataset: str, direction: str) -> np.ndarray:
    """Twice each rank as the smallest unsigned integer type, its largest value marking ``inf``."""
    ranks = np.asarray(ranks, dtype=np.float64)
    twice = ranks * 2.0
    finite = np.isfinite(twice)
    if np.isnan(twice).any() or (twice < 0).any() or (twice[finite] != np.rint(twice[finite])).any():
        raise ValueError(HALF_RANKS_MESSAGE.format(dataset=dataset, direction=direction))
    largest = float(twice[finite].max()) if finite.any() else 0.0
    for dtype in (np.uint16, np.uint32):
        infinite_code = np.iinfo(dtype).max
        if largest < infinite_code:
            return np.where(finite, twice, infinite_code).astype(dtype)
    raise ValueError(RANKS_TOO_LARGE_MESSAGE.format(dataset=dataset, direction=direction))


def _decode_ranks(codes: np.ndarray) -> np.ndarray:
    if codes.ndim != 1 or codes.dtype not in (np.uint16, np.uint32):
        raise ValueError(
            UNREADABLE_RANKS_MESSAGE.format(reason=f"ranks stored as {codes.dtype} {codes.shape}")
        )
    ranks = codes.astype(np.float64) / 2.0
    ranks[codes == np.iinfo(codes.dtype).max] = np.inf
    return ranks


def pack_ranks(ranks: Mapping[str, Mapping[str, Any]]) -> bytes:
    """A submission's per-query ranks as a small compressed ``.npz`` blob, to store beside its result.

    Ranks are tie-averaged, so twice a rank is a whole number: it is stored as uint16 (uint32 for
    ranks of 32767.5 and more), the type's largest value standing for ``inf`` (not in a top-k list).
    Groups are stored as uint16 or uint32. float16 would not do: it holds halves exactly only up to
    1024, and MSRVTT's test ranks reach 2989. The MSRVTT test phase packs to about 150 KB.

    Args:
        ranks: the layout `score_submission(ranks_out=...)` fills: {dataset: {"t2v", "v2t" or None,
            "groups" or None, "topk" or None}}.
    Returns:
        The blob; `unpack_ranks` reads it back exactly.
    Raises:
        ValueError: ranks that are not multiples of 0.5, or negative.

    >>> ranks = {"D": {"t2v": np.array([0.0, 2.5, np.inf]), "v2t": None, "groups": None, "topk": 10}}
    >>> blob = pack_ranks(ranks)
    >>> unpack_ranks(blob)["D"]["t2v"].tolist(), unpack_ranks(blob)["D"]["topk"]
    ([0.0, 2.5, inf], 10)
    """
    names = list(ranks)
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array([RANKS_FORMAT_VERSION], dtype=np.int32),
        "datasets": np.array(names, dtype=np.str_),
    }
    for index, name in enumerate(names):
        entry = ranks[name]
        if entry.get("t2v") is None:
            raise ValueError(MISSING_RANKS_MESSAGE.format(dataset=name))
        arrays[f"t2v_{index}"] = _encode_ranks(entry["t2v"], name, "t2v")
        if entry.get("v2t") is not None:
            arrays[f"v2t_{index}"] = _encode_ranks(entry["v2t"], name, "v2t")
        if entry.get("groups") is not None:
            groups = np.asarray(entry["groups"])
            if groups.size and (groups.min() < 0 or groups.max() >= 2**32 or groups.dtype.kind not in "iu"):
                raise ValueError(PACKED_GROUPS_MESSAGE.format(dataset=name))
            small = groups.size == 0 or groups.max() <= np.iinfo(np.uint16).max
            arrays[f"groups_{index}"] = groups.astype(np.uint16 if small else np.uint32)
        arrays[f"topk_{index}"] = np.array([_check_topk(entry.get("topk")) or 0], dtype=np.int32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def unpack_ranks(blob: bytes) -> dict[str, dict[str, Any]]:
    """Read a `pack_ranks` blob (with ``allow_pickle=False``): {dataset: {"t2v": float64 ranks, "v2t":
    float64 or None, "groups": int32 or None, "topk": int or None}}.

    Raises:
        ValueError: the blob is not one `pack_ranks` wrote.
    """
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as stored:
            members = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason=type(error).__name__)) from None
    version = members.get("format_version")
    if version is None or version.tolist() != [RANKS_FORMAT_VERSION]:
        raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason="unknown format version"))
    names = members.get("datasets")
    if names is None or names.dtype.kind != "U" or names.ndim != 1:
        raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason="no dataset names"))
    out: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(names.tolist()):
        if f"t2v_{index}" not in members or f"topk_{index}" not in members:
            raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason=f"dataset {name} incomplete"))
        t2v = _decode_ranks(members[f"t2v_{index}"])
        v2t = members.get(f"v2t_{index}")
        groups = members.get(f"groups_{index}")
        if groups is not None and (groups.shape != t2v.shape or groups.dtype not in (np.uint16, np.uint32)):
            raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason=f"dataset {name} groups do not match"))
        topk = int(members[f"topk_{index}"].reshape(-1)[0])
        out[name] = {
            "t2v": t2v,
            "v2t": None if v2t is None else _decode_ranks(v2t),
            "groups": None if groups is None else groups.astype(np.int32),
            "topk": topk or None,
        }
    return out
