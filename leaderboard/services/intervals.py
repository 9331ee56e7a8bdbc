"""Confidence intervals of a result: computed from its per-query ranks after scoring, stored with it.

The ranks themselves are private (`leaderboard.models.ResultRanks`, with the relevance metrics'
per-query values since blob version 2): they are in the phase's published query order and carry
each query's ground-truth video. What is stored on the result and
shown is aggregates only: an interval per metric and for the overall score (docs/uncertainty.md).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from challenge.models import Phase
from challenge.selectors import phase_dataset_names
from evaluation.metrics.registry import GEOMETRIC_MEAN_KEY
from leaderboard.boards.versions import phase_boards_changed
from leaderboard.models import DatasetResult, Result, ResultRanks

logger = logging.getLogger(__name__)

#: Board metric keys (`leaderboard.selectors.METRIC_FIELDS`) whose t2v interval a board cell shows.
BOARD_INTERVAL_KEYS = ("R1", "R5", "R10", "R50", "MedR", "MeanR")
#: The draws of every result of a phase share one seed, so two results' intervals use the same resamples.
INTERVAL_SEED = 0


def phase_score_metric(*, phase: Phase) -> str:
    """The t2v metric a phase's per-dataset score is: the challenge's primary metric."""
    return str(phase.challenge.primary_metric or GEOMETRIC_MEAN_KEY)


def phase_intervals_supported(*, phase: Phase) -> bool:
    """Whether the phase's score metric has intervals and paired tests: the rank metrics and their
    geometric mean (drawn from the per-query ranks) and the relevance metrics (mAP@10, nDCG, ...,
    drawn from the per-query values the scorer keeps beside the ranks since blob version 2; a
    result stored before has no values, so its score interval stays empty until it is re-scored)."""
    from evaluation.uncertainty import HIGHER_IS_BETTER, is_value_metric

    score_metric = phase_score_metric(phase=phase)
    return score_metric in HIGHER_IS_BETTER or is_value_metric(score_metric)


def result_intervals_compute(*, phase: Phase, ranks: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """`evaluation.uncertainty.submission_intervals` of one result's ranks under the phase's settings.

    Returns None when the phase has intervals off, there are no ranks, or its score metric has no
    intervals (`phase_intervals_supported`). Never raises for bad ranks:
    a result is worth storing without its intervals (the error is logged).
    """
    from evaluation.uncertainty import submission_intervals

    if not phase.intervals_enabled or not ranks or not phase_intervals_supported(phase=phase):
        return None
    try:
        return submission_intervals(
            ranks,
            phase_datasets=phase_dataset_names(phase=phase),
            aggregation=phase.aggregation if phase.aggregation in ("mean", "sum") else "mean",
            level=float(phase.interval_level),
            resamples=int(settings.PENTATHLON_INTERVAL_RESAMPLES),
            seed=INTERVAL_SEED,
            metric=phase_score_metric(phase=phase),
        )
    except ValueError:
        logger.exception("phase %s: the intervals of a result could not be computed", phase.id)
        return None


def _bounds(interval: dict[str, Any] | None) -> list[float] | None:
    return None if interval is None else [float(interval["low"]), float(interval["high"])]


def board_intervals(intervals: dict[str, Any] | None) -> tuple[list[float] | None, dict[str, dict[str, Any]]]:
    """The board's copy of stored intervals: the overall [low, high], and per dataset
    {"score": [low, high], metric: [low, high], ...} (t2v)."""
    if not intervals:
        return None, {}
    per_dataset: dict[str, dict[str, Any]] = {}
    for name, entry in (intervals.get("datasets") or {}).items():
        t2v = entry.get("t2v") or {}
        per_dataset[name] = {
            "score": _bounds(entry.get("score")),
            **{key: _bounds(t2v.get(key)) for key in BOARD_INTERVAL_KEYS},
        }
    return _bounds(intervals.get("overall_score")), per_dataset


def result_intervals_set(*, result: Result, intervals: dict[str, Any] | None) -> None:
    """Store `intervals` on the result, its overall bounds and each dataset row's bounds."""
    overall, per_dataset = board_intervals(intervals)
    Result.objects.filter(id=result.id).update(
        intervals=intervals,
        primary_score_low=None if overall is None else overall[0],
        primary_score_high=None if overall is None else overall[1],
    )
    result.intervals = intervals
    result.primary_score_low, result.primary_score_high = overall or (None, None)
    for row in DatasetResult.objects.filter(result=result):
        row.intervals = per_dataset.get(row.dataset)
        row.save(update_fields=["intervals"])


def result_ranks_set(*, result: Result, blob: bytes | None) -> None:
    """Keep (or, with None, drop) the result's packed per-query ranks."""
    if blob is None:
        ResultRanks.objects.filter(result=result).delete()
        return
    ResultRanks.objects.update_or_create(result=result, defaults={"blob": blob})


def result_ranks_get(*, result_id: int) -> dict[str, dict[str, Any]] | None:
    """The stored ranks of a result, unpacked; None when it has none (or they cannot be read)."""
    from evaluation.uncertainty import unpack_ranks

    blob = ResultRanks.objects.filter(result_id=result_id).values_list("blob", flat=True).first()
    if blob is None:
        return None
    try:
        return unpack_ranks(bytes(blob))
    except ValueError:
        logger.exception("result %s: the stored ranks could not be read", result_id)
        return None


def phase_intervals_refresh(*, phase: Phase) -> int:
    """Recompute every stored result's intervals of a phase from its stored ranks (after the organisers
    changed the level or turned intervals on); with intervals off, clear them. Returns the results changed."""
    changed = 0
    for result in Result.objects.filter(submission__phase=phase).only("id"):
        ranks = result_ranks_get(result_id=result.id)
        intervals = None if ranks is None else result_intervals_compute(phase=phase, ranks=ranks)
        with transaction.atomic():
            result_intervals_set(result=result, intervals=intervals)
        changed += 1
    phase_boards_changed(phase_ids=[phase.id])  # the boards show the intervals: their cached copies go
    return changed
