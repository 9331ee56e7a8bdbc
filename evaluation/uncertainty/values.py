"""Per-query values of the relevance metrics (mAP, mAP@10, nDCG, RPrec, Recall@K, ...), checked.

Each relevance metric the scorer reports is 100 times the mean of per-query values in [0, 1], so on a
resample it is a weighted mean, ``100 * (counts @ sums per unit) / (counts @ queries per unit)``: the
same matrix product as a recall's hit counts. The values are resampled as float32 (what the stored
blob keeps, `pack_ranks`), so an interval is the same whether it is computed right after scoring or
later from the blob; the point estimate is the reported number itself, exact: the mean of the
float64 values, or the mean stored beside the float32 ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checks import is_value_metric

VALUES_SHAPE_MESSAGE = (
    "The {direction} values of {metric} have shape {shape}; expected one value per ranked row ({rows})."
)


VALUES_RANGE_MESSAGE = (
    "The {direction} values of {metric} hold NaN or values outside [0, 1]; expected per-query values of"
    " a relevance metric, whose mean in percent is the reported metric."
)


VALUES_METRIC_MESSAGE = (
    "Per-query values were given for {metric!r}, which is not a relevance metric; expected keys such as"
    " mAP, mAP@10, nDCG@10, RPrec or Recall@10."
)


@dataclass(frozen=True)
class Values:
    """The relevance metrics of one direction of one dataset, per query.

    Attributes:
        keys: the metric keys, in the scorer's order.
        matrix: (Q, M) float64 copies of the float32 values, one column per key.
        means: {key: the reported value in percent}, exact.
    """

    keys: tuple[str, ...] = ()
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    means: dict[str, float] = field(default_factory=dict)

    def column(self, key: str) -> int:
        return self.keys.index(key)


def per_query_values(
    values: Mapping[str, Any] | None,
    means: Mapping[str, float] | None,
    rows: int,
    *,
    direction: str = "t2v",
) -> Values:
    """Check and gather `values` ({metric key: (rows,) values in [0, 1]}) of one direction.

    Args:
        values: the scorer's ``t2v_values``/``v2t_values`` (float64), or `unpack_ranks`'s (float32
            read as float64); None or empty: no relevance metric.
        means: {key: reported value in percent} where the values were stored rounded; None: the
            exact mean of `values`, as the scorer reports it (``100 * np.mean``).
        rows: the number of ranked rows of this direction.
    Raises:
        ValueError: a key that is not a relevance metric, a length other than `rows`, NaN or a value
            outside [0, 1].

    >>> found = per_query_values({"mAP": np.array([1.0, 0.5])}, None, 2)
    >>> found.keys, found.means
    (('mAP',), {'mAP': 75.0})
    """
    if not values:
        return Values(matrix=np.zeros((rows, 0)))
    columns = []
    exact: dict[str, float] = {}
    for key, given in values.items():
        if not is_value_metric(key):
            raise ValueError(VALUES_METRIC_MESSAGE.format(metric=key))
        array = np.asarray(given, dtype=np.float64)
        if array.shape != (rows,):
            raise ValueError(
                VALUES_SHAPE_MESSAGE.format(direction=direction, metric=key, shape=array.shape, rows=rows)
            )
        if not np.all((array >= 0.0) & (array <= 1.0)):  # NaN fails both
            raise ValueError(VALUES_RANGE_MESSAGE.format(direction=direction, metric=key))
        stored = None if means is None else means.get(key)
        exact[key] = 100.0 * float(np.mean(array)) if stored is None else float(stored)
        columns.append(array.astype(np.float32).astype(np.float64))
    return Values(tuple(values), np.column_stack(columns), exact)
