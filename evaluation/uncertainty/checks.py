"""The defaults, the metrics' directions and cut-offs, and the checks of every argument with the
messages they raise (complete sentences that say what was expected)."""

from __future__ import annotations

import numpy as np

from ..metrics.registry import GEOMETRIC_MEAN_KEY, METRIC_KEYS, is_metric, metric

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


UNKNOWN_METRIC_MESSAGE = (
    "Unknown metric {metric!r}; expected one of {known}, or a relevance metric such as mAP, mAP@10 or nDCG."
)


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
    "The permutation test is implemented for recalls, their geometric mean, the mean rank and the"
    " relevance metrics; got {metric}. Use the bootstrap for the median rank."
)


MISSING_RANKS_MESSAGE = (
    "The ranks of dataset {dataset} have no t2v entry; expected the scorer's ranks_out layout."
)


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


def is_value_metric(key: str) -> bool:
    """A relevance metric (mAP, mAP@10, nDCG, RPrec, Recall@K, ...): a mean of per-query values in
    [0, 1], shown in percent, which the ranks do not hold (the scorer keeps the values beside them).

    >>> is_value_metric("mAP@10"), is_value_metric("R10"), is_value_metric("mAP@x")
    (True, False, False)
    """
    return key not in HIGHER_IS_BETTER and is_metric(key)


def higher_is_better(key: str) -> bool:
    """The direction of a rank metric (`HIGHER_IS_BETTER`) or of a relevance metric (the registry)."""
    return HIGHER_IS_BETTER[key] if key in HIGHER_IS_BETTER else metric(key).higher_is_better


def _check_metric(key: str) -> str:
    if key not in HIGHER_IS_BETTER and not is_value_metric(key):
        raise ValueError(UNKNOWN_METRIC_MESSAGE.format(metric=key, known=", ".join(METRIC_KEYS)))
    return key


def _check_topk(topk: int | None) -> int | None:
    if topk is None:
        return None
    if isinstance(topk, bool) or not isinstance(topk, int | np.integer) or topk < 1:
        raise ValueError(TOPK_MESSAGE.format(topk=topk))
    return int(topk)
