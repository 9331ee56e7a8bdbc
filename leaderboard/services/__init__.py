"""Every write of the leaderboard app, one module per concern.

    evaluate  one evaluation run, from claim to result (the status changes are challenge's services)
    results   the `Result` rows of a scored submission
    rescore   re-scoring a phase with a snapshot of the board, and the before/after diff

The claim and the lease rule belong to `challenge.services.submissions`; they are re-exported here
for old callers.
"""

from challenge.services.submissions import lease_expired_before, submission_claim
from evaluation.metrics.registry import GEOMETRIC_MEAN_KEY
from leaderboard.selectors import METRIC_FIELDS
from leaderboard.services.evaluate import (
    BAD_GROUND_TRUTH,
    INTERNAL_ERROR,
    NO_GROUND_TRUTH,
    PROGRESS_INTERVAL_S,
    STORAGE_GAVE_UP,
    TIME_LIMIT,
    LeaseLost,
    submission_evaluate,
)
from leaderboard.services.rescore import (
    leaderboard_diff,
    leaderboard_snapshot_take,
    phase_rescore_with_snapshot,
)
from leaderboard.services.results import (
    dataset_results_store,
    dataset_scores,
    overall_score,
    result_store,
)

__all__ = [
    "BAD_GROUND_TRUTH",
    "GEOMETRIC_MEAN_KEY",
    "INTERNAL_ERROR",
    "METRIC_FIELDS",
    "NO_GROUND_TRUTH",
    "PROGRESS_INTERVAL_S",
    "STORAGE_GAVE_UP",
    "TIME_LIMIT",
    "LeaseLost",
    "dataset_results_store",
    "dataset_scores",
    "lease_expired_before",
    "leaderboard_diff",
    "leaderboard_snapshot_take",
    "overall_score",
    "phase_rescore_with_snapshot",
    "result_store",
    "submission_claim",
    "submission_evaluate",
]
