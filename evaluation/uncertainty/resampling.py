"""The draws and the replicates: resample counts from a seed, every metric on every resample as
weighted sums over units (a query, or a video with all its captions), and the percentile interval."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..metrics.registry import GEOMETRIC_MEAN_KEY, METRIC_KEYS
from ..metrics.retrieval import metrics_from_ranks
from .checks import (
    COUNTS_SHAPE_MESSAGE,
    DEFAULT_LEVEL,
    EMPTY_RANKS_MESSAGE,
    GROUPS_LENGTH_MESSAGE,
    HIGHER_IS_BETTER,
    INFINITE_RANKS_MESSAGE,
    MISSING_RANKS_MESSAGE,
    NAN_RANKS_MESSAGE,
    NOT_COMPUTABLE_MESSAGE,
    RANKS_SHAPE_MESSAGE,
    RECALL_CUTOFFS,
    UNKNOWN_METRIC_MESSAGE,
    _check_level,
    _check_resamples,
    _check_seed,
    _check_topk,
    is_value_metric,
)
from .values import Values, per_query_values

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
    values: Values = field(default_factory=Values)  # the relevance metrics' per-query values
    value_sums: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (U, M) float64

    @property
    def columns(self) -> np.ndarray:
        """(U, 6 + M): sizes, the four recall hit counts, rank sums (0 for top-k), then the sums of
        each relevance metric's values, for one matrix product."""
        rank_sums = np.zeros(self.units) if self.rank_sums is None else self.rank_sums
        return np.column_stack([self.sizes, self.hits, rank_sums, self.value_sums])

    @property
    def metric_keys(self) -> tuple[str, ...]:
        """The rank metrics, then the relevance metrics whose values the sample holds."""
        return (*METRIC_KEYS, *self.values.keys)

    @classmethod
    def build(
        cls,
        ranks: Any,
        groups: Any | None = None,
        topk: int | None = None,
        values: Mapping[str, Any] | None = None,
        means: Mapping[str, float] | None = None,
        direction: str = "t2v",
    ) -> _Sample:
        """`values`, `means`: the relevance metrics' per-query values and exact means (`per_query_values`)."""
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
        found = per_query_values(values, means, ranks.size, direction=direction)
        value_sums = np.zeros((units, len(found.keys)))
        for column in range(len(found.keys)):
            value_sums[:, column] = np.bincount(unit_of, weights=found.matrix[:, column], minlength=units)
        return cls(ranks, unit_of, units, sizes, hits, rank_sums, topk, found, value_sums)

    def same_queries(self, other: _Sample) -> bool:
        return self.units == other.units and np.array_equal(self.unit_of, other.unit_of)

    def computable(self, metric: str) -> bool:
        """What `evaluation.metrics.topk_metrics` reports for top-k lists (everything for full ranks);
        a relevance metric where the sample holds its values."""
        if is_value_metric(metric):
            return metric in self.values.keys
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
        out: dict[str, float | None] = {
            key: full[key] if self.computable(key) else None for key in METRIC_KEYS
        }
        out.update(self.values.means)
        return out

    def estimate(self, metric: str) -> float:
        """One metric of the full sample, which the caller checked `computable` for."""
        value = self.estimates().get(metric)
        if value is None:
            raise ValueError(NOT_COMPUTABLE_MESSAGE.format(metric=metric, topk=self.topk))
        return value


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
        cumulative: npt.NDArray[np.signedinteger[Any]] = np.cumsum(counts[:, units], axis=1, dtype=self.dtype)
        offsets: npt.NDArray[np.signedinteger[Any]] = base.astype(self.dtype)
        cumulative += offsets[:, None]
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
        if metric not in HIGHER_IS_BETTER and not is_value_metric(metric):
            raise ValueError(UNKNOWN_METRIC_MESSAGE.format(metric=metric, known=", ".join(METRIC_KEYS)))
    wanted = [m for m in metrics if sample.computable(m)]
    resamples = counts.shape[0]
    out: dict[str, npt.NDArray[np.float64]] = {m: np.empty(resamples, dtype=np.float64) for m in wanted}
    need_median = "MedR" in wanted
    search = _MedianSearch(sample) if need_median else None
    columns = sample.columns
    if search is not None:
        columns = np.column_stack([columns, search.columns])  # one matrix product per block
    values = len(sample.values.keys)
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
        for column, key in enumerate(sample.values.keys):
            if key in wanted:
                out[key][rows] = 100.0 * (sums[:, 6 + column] / totals)
        if search is not None:
            medians = search.medians(block, sums[:, 6 + values :], np.rint(totals).astype(np.int64))
            out["MedR"][rows] = medians + 1.0
    return {m: out.get(m) for m in metrics}  # None where the sample cannot compute the metric


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


def _replicates_of(sample: _Sample, counts: np.ndarray, metric: str) -> np.ndarray:
    """`_replicates` of one metric, which the caller checked `computable` for."""
    values = _replicates(sample, counts, [metric])[metric]
    if values is None:
        raise ValueError(NOT_COMPUTABLE_MESSAGE.format(metric=metric, topk=sample.topk))
    return values


def _geometric_means(recalls: np.ndarray) -> np.ndarray:
    product = recalls[:, 0] * recalls[:, 1] * recalls[:, 2]
    positive = product > 0
    means: np.ndarray = np.where(positive, np.where(positive, product, 1.0) ** (1.0 / 3.0), 0.0)
    return means


def _aggregate(replicates: Mapping[str, np.ndarray], phase: Sequence[str], aggregation: str) -> np.ndarray:
    total: np.ndarray = np.sum([replicates[name] for name in phase], axis=0)
    return total / len(phase) if aggregation == "mean" else total


def _dataset_samples(name: str, entry: Mapping[str, Any]) -> tuple[_Sample, _Sample | None]:
    """The t2v and v2t samples of one dataset of the `submission_intervals` layout, with the
    relevance metrics' values where the entry has them ("t2v_values", "t2v_means", ...)."""
    if entry.get("t2v") is None:
        raise ValueError(MISSING_RANKS_MESSAGE.format(dataset=name))
    topk = entry.get("topk")
    t2v = _Sample.build(
        entry["t2v"], entry.get("groups"), topk, entry.get("t2v_values"), entry.get("t2v_means")
    )
    v2t = entry.get("v2t")
    if v2t is None:
        return t2v, None
    return t2v, _Sample.build(v2t, None, None, entry.get("v2t_values"), entry.get("v2t_means"), "v2t")
