"""Confidence intervals of a dataset's and a submission's metrics (percentile bootstrap).

>>> ranks = np.array([0.0, 0.0, 3.0, 12.0, 0.5, 7.0, 0.0, 60.0])
>>> interval = dataset_intervals(ranks, resamples=200, seed=1)["R1"]
>>> interval.low <= interval.estimate == 37.5 <= interval.high
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..scoring import AGGREGATIONS, overall_score
from .checks import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    PRIMARY_METRIC,
    _check_level,
    _check_metric,
    _check_resamples,
)
from .resampling import (
    _aggregate,
    _dataset_samples,
    _replicates,
    _Sample,
    dataset_stream,
    percentile_interval,
    resample_counts,
)


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


def _intervals(
    sample: _Sample, counts: np.ndarray, level: float, metrics: Sequence[str] | None = None
) -> dict[str, Interval | None]:
    """Every metric of `metrics` (default: the sample's, `_Sample.metric_keys`); None where not computable."""
    metrics = sample.metric_keys if metrics is None else metrics
    estimates = sample.estimates()
    replicates = _replicates(sample, counts, metrics)
    out: dict[str, Interval | None] = {}
    for metric in metrics:
        values, estimate = replicates[metric], estimates.get(metric)
        if values is None or estimate is None:  # both None together: the metric is not computable
            out[metric] = None
            continue
        low, high = percentile_interval(values, level)
        out[metric] = Interval(estimate=float(estimate), low=low, high=high, level=level)
    return out


def dataset_intervals(
    ranks: Any,
    *,
    groups: Any | None = None,
    topk: int | None = None,
    values: Mapping[str, Any] | None = None,
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
        values: {relevance metric key: (Q,) per-query values in [0, 1]} (the scorer's "t2v_values");
            each gets an interval beside the rank metrics', its estimate 100 times their mean.
        level: confidence level, strictly between 0 and 1.
        resamples: bootstrap resamples.
        seed, stream: select the draws (`resample_counts`).
    Returns:
        {metric key: Interval, or None where not computable}.
    Raises:
        ValueError: bad level, resamples, seed, or empty, non-finite or mismatched inputs.
    """
    level = _check_level(level)
    sample = _Sample.build(ranks, groups, topk, values)
    counts = resample_counts(sample.units, resamples, seed=seed, stream=stream)
    return _intervals(sample, counts, level)


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
            query or None, "topk": list length or None, and optionally "t2v_values"/"v2t_values"
            ({relevance metric: per-row values}) with "t2v_means"/"v2t_means" (their exact reported
            values, where the values were stored rounded)}}, the layout `score_submission(ranks_out=...)`
            fills and `unpack_ranks` returns.
        phase_datasets: the phase's datasets (default: those given); the overall interval is None
            unless every one has a score, as the overall score is.
        aggregation: "mean" or "sum".
        level, resamples, seed: as `dataset_intervals`.
        metric: the per-dataset score the overall score aggregates (the challenge's primary metric,
            a t2v metric key, a relevance metric among them; the geometric mean of R1, R5, R10 by
            default). A dataset without it (no values kept for that relevance metric) has no score
            interval, and the overall interval is then None.
    Returns:
        A JSON-serialisable dict: method, level, resamples, seed, aggregation, metric, datasets {name:
        {"grouped", "units", "t2v": {metric: interval dict or None} (the rank metrics, then the
        relevance metrics whose values are given), "v2t": ... or None, "score":
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
        replicates = _replicates(t2v, counts, t2v.metric_keys)
        t2v_out: dict[str, Any] = {}
        for key in t2v.metric_keys:
            values, estimate = replicates[key], estimates[key]
            if values is None or estimate is None:  # both None together: the metric is not computable
                t2v_out[key] = None
                continue
            low, high = percentile_interval(values, level)
            t2v_out[key] = Interval(float(estimate), low, high, level).as_dict()
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
            "score": t2v_out.get(metric),
        }
        found, found_estimate = replicates.get(metric), estimates.get(metric)
        if found is not None and found_estimate is not None:
            score_estimates[name] = float(found_estimate)
            score_replicates[name] = found
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
