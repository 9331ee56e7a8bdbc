"""Paired tests of a board's top entries: "tied within noise" and each entry's comparisons.

`board_significance` compares each of the top `PENTATHLON_SIGNIFICANCE_TOP` ranked entries with
the entry above it and with the first, by a paired bootstrap of the board's score on the same
queries (`evaluation.uncertainty.leaderboard_ties`), from the entries' privately stored ranks.

The answer is cached under a key that is a digest of everything it depends on: the phase's
settings, the board's dataset, and the ranked entries in order with the time their ranks were
written. Any change of the board (a new result, a re-score, an entry hidden, made private or
chosen as final) changes the key, so a stale answer is never served and nothing has to be
invalidated; old keys expire. The ranks never leave this module: only comparisons of aggregate
scores do.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

from challenge.models import Phase
from challenge.selectors import phase_dataset_names
from leaderboard.models import ResultRanks
from leaderboard.selectors import Board
from leaderboard.services.intervals import (
    INTERVAL_SEED,
    phase_intervals_supported,
    phase_score_metric,
    result_ranks_get,
)

logger = logging.getLogger(__name__)

#: Part of every key: bump when the cached layout changes (2: relevance primaries are compared, where
#: version 1 cached an empty answer for them).
CACHE_VERSION = 2
CACHE_SECONDS = 24 * 3600


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((row for row in rows if row.get("rank")), key=lambda row: row["rank"])


def _cache_key(phase: Phase, dataset: str | None, entries: list[tuple[int, int, str]]) -> str:
    described = {
        "version": CACHE_VERSION,
        "phase": phase.id,
        "dataset": dataset,
        "level": float(phase.interval_level),
        "aggregation": phase.aggregation,
        "metric": phase_score_metric(phase=phase),
        "resamples": int(settings.PENTATHLON_INTERVAL_RESAMPLES),
        "entries": entries,
    }
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
    return f"pentathlon:significance:{phase.id}:{digest}"


def board_marks(*, board: Board, rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """`board_significance` of a board, only where it is in rank order (its default sort and direction):
    "tied within noise" speaks of the entry above in the ranking, not in another column's order."""
    if board.sort != board.default_sort or board.descending != board.phase.higher_is_better:
        return {}
    return board_significance(phase=board.phase, dataset=board.dataset, rows=rows)


def board_significance(
    *, phase: Phase, dataset: str | None, rows: list[dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """Marks and comparisons of the board's top ranked entries, keyed by submission id.

    Args:
        phase: the board's phase; nothing is computed when its intervals are off.
        dataset: the board's dataset (None: the overall board, over the phase's datasets).
        rows: the board's rows (`leaderboard.selectors.leaderboard_rows`), any order; baselines and
            rows without a rank are not compared.
    Returns:
        {submission_id: {"rank", "tied_within_noise", "vs_above", "vs_first", "above", "first"}}:
        "vs_above" and "vs_first" are `Comparison` dicts of the entry above (resp. the first) minus
        this one, None where that entry has no stored ranks; "above" and "first" are their
        submission ids. Entries without stored ranks are left out.
    """
    if not phase.intervals_enabled:
        return {}
    ranked = _ranked(rows)[: max(int(settings.PENTATHLON_SIGNIFICANCE_TOP), 0)]
    if len(ranked) < 2:
        return {}
    result_ids = {row["submission_id"]: row["result_id"] for row in ranked}
    written = dict(
        ResultRanks.objects.filter(result_id__in=result_ids.values()).values_list("result_id", "updated_at")
    )
    described = [
        (row["submission_id"], row["result_id"], written[row["result_id"]].isoformat())
        for row in ranked
        if row["result_id"] in written
    ]
    if len(described) < 2:
        return {}
    key = _cache_key(phase, dataset, described)
    cached = cache.get(key)
    if cached is not None:
        return {int(k): v for k, v in cached.items()}
    marks = _compute(phase, dataset, ranked, written)
    cache.set(key, {str(k): v for k, v in marks.items()}, CACHE_SECONDS)
    return marks


def _compute(
    phase: Phase, dataset: str | None, ranked: list[dict[str, Any]], written: dict[int, datetime]
) -> dict[int, dict[str, Any]]:
    from evaluation.uncertainty import leaderboard_ties

    if not phase_intervals_supported(phase=phase):
        return {}
    phase_datasets = [dataset] if dataset else phase_dataset_names(phase=phase)
    chain: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for row in ranked:
        if row["result_id"] not in written:
            continue
        ranks = result_ranks_get(result_id=row["result_id"])
        if ranks is None:
            continue
        if dataset:
            if dataset not in ranks:
                continue
            ranks = {dataset: ranks[dataset]}
        chain.append(row)
        entries.append(ranks)
    if len(chain) < 2:
        return {}
    try:
        ties = leaderboard_ties(
            entries,
            phase_datasets=phase_datasets,
            aggregation=phase.aggregation if phase.aggregation in ("mean", "sum") else "mean",
            level=float(phase.interval_level),
            resamples=int(settings.PENTATHLON_INTERVAL_RESAMPLES),
            seed=INTERVAL_SEED,
            metric=phase_score_metric(phase=phase),
        )
    except ValueError:  # e.g. results scored against different ground truths: not comparable
        logger.exception("phase %s: the board's entries could not be compared", phase.id)
        return {}
    first_rank = ranked[0]["rank"]
    marks: dict[int, dict[str, Any]] = {}
    for index, (row, tie) in enumerate(zip(chain, ties, strict=True)):
        above = chain[index - 1] if index else None
        adjacent = above is not None and above["rank"] == row["rank"] - 1
        first_ok = index > 0 and chain[0]["rank"] == first_rank
        vs_above = tie["vs_above"] if adjacent else None
        marks[row["submission_id"]] = {
            "rank": row["rank"],
            "tied_within_noise": bool(tie["tied_within_noise"]) if adjacent else False,
            "vs_above": vs_above,
            "vs_first": tie["vs_first"] if first_ok else None,
            "above": above["submission_id"] if above is not None and adjacent else None,
            "first": chain[0]["submission_id"] if first_ok else None,
        }
    return marks


def entry_comparisons(*, marks: dict[int, dict[str, Any]], submission_id: int) -> dict[str, Any] | None:
    """One entry's comparisons, signed as "this entry minus the other": with the first, the entry
    above and the entry below. None when the entry is not among the compared ones."""
    mark = marks.get(submission_id)
    if mark is None:
        return None

    def flipped(comparison: dict[str, Any] | None) -> dict[str, Any] | None:
        if comparison is None:
            return None
        low, high = comparison.get("low"), comparison.get("high")
        return {
            **comparison,
            "difference": -comparison["difference"],
            "low": None if high is None else -high,
            "high": None if low is None else -low,
            "a_better": comparison["b_better"],
            "b_better": comparison["a_better"],
        }

    below = next((m for m in marks.values() if m.get("above") == submission_id), None)
    return {
        "rank": mark["rank"],
        "tied_within_noise": mark["tied_within_noise"],
        "vs_first": flipped(mark["vs_first"]),
        "vs_above": flipped(mark["vs_above"]),
        "vs_below": None if below is None else below["vs_above"],
        "below_tied_within_noise": False if below is None else below["tied_within_noise"],
    }
