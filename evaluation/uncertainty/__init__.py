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

The relevance metrics (mAP, mAP@10, nDCG, RPrec, Recall@K and the declared cut-offs) are means of
per-query values the scorer keeps beside the ranks ("t2v_values", "v2t_values"), so on a resample
they are weighted sums too, computed in the same matrix product as the recalls (`values`).

Intervals are percentile intervals; the paired test resamples both submissions with the same counts
(or flips their labels per unit, `paired_comparison(method="permutation")`) and gives a two-sided
p-value for the difference. `leaderboard_ties` marks each leaderboard entry that is not
significantly behind the entry above it.

The package, by concern: `checks` (defaults, directions, argument checks and their messages),
`resampling` (the draws and the replicates), `intervals` (confidence intervals), `comparison` (paired
tests and the leaderboard's ties), `values` (the relevance metrics' per-query values) and `packing`
(the ranks and values a result keeps). Every public name is
re-exported here: callers import from `evaluation.uncertainty`.
"""

from __future__ import annotations

from .checks import (
    COUNTS_SHAPE_MESSAGE,
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    EMPTY_RANKS_MESSAGE,
    GROUPS_LENGTH_MESSAGE,
    HIGHER_IS_BETTER,
    INFINITE_RANKS_MESSAGE,
    LEVEL_MESSAGE,
    METHOD_MESSAGE,
    METHODS,
    MISSING_RANKS_MESSAGE,
    NAN_RANKS_MESSAGE,
    NOT_COMPUTABLE_MESSAGE,
    PAIRED_GROUPS_MESSAGE,
    PAIRED_LENGTH_MESSAGE,
    PERMUTATION_METRIC_MESSAGE,
    PRIMARY_METRIC,
    RANKS_SHAPE_MESSAGE,
    RECALL_CUTOFFS,
    RESAMPLES_MESSAGE,
    SEED_MESSAGE,
    TOPK_MESSAGE,
    UNKNOWN_METRIC_MESSAGE,
    higher_is_better,
    is_value_metric,
)
from .comparison import Comparison, compare_submissions, leaderboard_ties, paired_comparison
from .intervals import Interval, dataset_intervals, submission_intervals
from .packing import (
    HALF_RANKS_MESSAGE,
    PACKED_GROUPS_MESSAGE,
    RANKS_FORMAT_VERSION,
    RANKS_TOO_LARGE_MESSAGE,
    READABLE_VERSIONS,
    UNREADABLE_RANKS_MESSAGE,
    pack_ranks,
    unpack_ranks,
)
from .resampling import bootstrap_replicates, dataset_stream, percentile_interval, resample_counts
from .values import (
    VALUES_METRIC_MESSAGE,
    VALUES_RANGE_MESSAGE,
    VALUES_SHAPE_MESSAGE,
    Values,
    per_query_values,
)

__all__ = [
    "COUNTS_SHAPE_MESSAGE",
    "Comparison",
    "DEFAULT_LEVEL",
    "DEFAULT_RESAMPLES",
    "EMPTY_RANKS_MESSAGE",
    "GROUPS_LENGTH_MESSAGE",
    "HALF_RANKS_MESSAGE",
    "HIGHER_IS_BETTER",
    "INFINITE_RANKS_MESSAGE",
    "Interval",
    "LEVEL_MESSAGE",
    "METHODS",
    "METHOD_MESSAGE",
    "MISSING_RANKS_MESSAGE",
    "NAN_RANKS_MESSAGE",
    "NOT_COMPUTABLE_MESSAGE",
    "PACKED_GROUPS_MESSAGE",
    "PAIRED_GROUPS_MESSAGE",
    "PAIRED_LENGTH_MESSAGE",
    "PERMUTATION_METRIC_MESSAGE",
    "PRIMARY_METRIC",
    "RANKS_FORMAT_VERSION",
    "RANKS_SHAPE_MESSAGE",
    "RANKS_TOO_LARGE_MESSAGE",
    "READABLE_VERSIONS",
    "RECALL_CUTOFFS",
    "RESAMPLES_MESSAGE",
    "SEED_MESSAGE",
    "TOPK_MESSAGE",
    "UNKNOWN_METRIC_MESSAGE",
    "UNREADABLE_RANKS_MESSAGE",
    "VALUES_METRIC_MESSAGE",
    "VALUES_RANGE_MESSAGE",
    "VALUES_SHAPE_MESSAGE",
    "Values",
    "bootstrap_replicates",
    "compare_submissions",
    "dataset_intervals",
    "dataset_stream",
    "higher_is_better",
    "is_value_metric",
    "leaderboard_ties",
    "pack_ranks",
    "paired_comparison",
    "per_query_values",
    "percentile_interval",
    "resample_counts",
    "submission_intervals",
    "unpack_ranks",
]
