"""Storing a run's result: the `Result` row, its per-dataset rows and the overall score."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.db import transaction

from challenge.models import Challenge
from challenge.notifications import submission_notify_final
from challenge.services.submissions import submission_finish
from evaluation.metrics.registry import GEOMETRIC_MEAN_KEY
from leaderboard.models import DatasetResult, Result
from leaderboard.selectors import METRIC_FIELDS
from leaderboard.services.intervals import board_intervals, result_ranks_set

logger = logging.getLogger(__name__)


def result_store(
    *,
    row: dict[str, Any],
    report: dict[str, Any],
    ranks_blob: bytes | None = None,
    intervals: dict[str, Any] | None = None,
) -> Result | None:
    """Write the result and finish the submission in one short transaction, if the claim still holds.

    Args:
        row: the claimed row (`challenge.services.submissions.claim_row`).
        report: `evaluation.scoring.score_submission`'s report.
        ranks_blob: the per-query ranks (`evaluation.uncertainty.pack_ranks`), kept privately.
        intervals: `leaderboard.services.intervals.result_intervals_compute` of those ranks, or None.
    """
    with transaction.atomic():
        progress = {
            "stage": "done",
            "fraction": 1.0,
            "datasets": {name: 1.0 for name in report.get("datasets", {})},
        }
        finished = submission_finish(row=row, progress=progress)
        if not finished:
            logger.warning("submission %s: claim lost before the result was stored", row["id"])
            return None
        challenge = Challenge.objects.filter(phases__submissions__id=row["id"]).first()
        datasets = report.get("datasets", {})
        scores = dataset_scores(report=report, metric=challenge.primary_metric if challenge else None)
        overall = overall_score(
            scores={k: v for k, v in scores.items() if v is not None},
            phase_datasets=list(datasets) + list(report.get("missing_datasets", [])),
            aggregation=report.get("aggregation") or "mean",
        )
        overall_bounds, dataset_bounds = board_intervals(intervals)
        result, first_result = Result.objects.update_or_create(
            submission_id=row["id"],
            defaults={
                "primary_score": None if overall is None else float(overall),
                "intervals": intervals,
                "primary_score_low": None if overall_bounds is None else overall_bounds[0],
                "primary_score_high": None if overall_bounds is None else overall_bounds[1],
                "aggregation": report.get("aggregation", ""),
                "metrics": datasets,
                "missing_datasets": list(report.get("missing_datasets", [])),
                "scorer_version": report.get("scorer_version", ""),
            },
        )
        dataset_results_store(result=result, report=report, scores=scores, intervals=dataset_bounds)
        result_ranks_set(result=result, blob=ranks_blob)
    if first_result:  # a re-score of the whole phase does not email every team again
        submission_notify_final(submission_id=row["id"])
    return result


def dataset_scores(*, report: dict[str, Any], metric: str | None) -> dict[str, float | None]:
    """Per-dataset score under the challenge's primary metric (t2v); the scorer's own score by default."""
    out: dict[str, float | None] = {}
    for name, entry in report.get("datasets", {}).items():
        if metric is None or metric == GEOMETRIC_MEAN_KEY:
            value = entry.get("score")
        else:
            value = (entry.get("t2v") or {}).get(metric)
        out[name] = None if value is None else float(value)
    return out


def extra_values(t2v: dict[str, Any]) -> dict[str, float]:
    """The t2v metrics of a report without a `DatasetResult` column of their own (relevance metrics,
    declared cut-offs, the geometric mean): what a board of a challenge's metric set reads."""
    return {
        key: float(value)
        for key, value in t2v.items()
        if key not in METRIC_FIELDS
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    }


def overall_score(*, scores: dict[str, float], phase_datasets: list[str], aggregation: str) -> float | None:
    from evaluation.scoring import overall_score as aggregate

    return aggregate(scores, phase_datasets, aggregation if aggregation in ("mean", "sum") else "mean")


def dataset_results_store(
    *,
    result: Result,
    report: dict[str, Any],
    scores: dict[str, float | None],
    intervals: dict[str, Any] | None = None,
) -> None:
    """Replace the result's per-dataset rows (one per scored dataset) from the scorer's report, with
    each dataset's interval bounds (`leaderboard.services.intervals.board_intervals`) when given."""
    DatasetResult.objects.filter(result=result).delete()
    rows = []
    for name, entry in report.get("datasets", {}).items():
        t2v = entry.get("t2v") or {}
        rows.append(
            DatasetResult(
                result=result,
                dataset=name,
                score=scores.get(name),
                rank_histogram=entry.get("rank_histogram"),
                intervals=(intervals or {}).get(name),
                values=extra_values(t2v),
                **{
                    field: None if t2v.get(key) is None else float(t2v[key])
                    for key, field in METRIC_FIELDS.items()
                    if key != "score"
                },
            )
        )
    DatasetResult.objects.bulk_create(rows)
