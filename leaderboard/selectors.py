"""Leaderboard reads: ranking happens in SQL with a window function, never in Python loops."""

from __future__ import annotations

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from challenge.models import Phase, Submission
from challenge.selectors import phase_dataset_names
from leaderboard.models import Result


def leaderboard_entries(*, phase: Phase) -> QuerySet[Result]:
    """Best public, finished, fully scored result per team; ties go to the earlier submission."""
    best = F("primary_score").desc() if phase.higher_is_better else F("primary_score").asc()
    order = [best, F("submission__created_at").asc(), F("submission__id").asc()]
    return (Result.objects
            .filter(submission__phase=phase, submission__status=Submission.Status.FINISHED,
                    submission__is_public=True, primary_score__isnull=False)
            .select_related("submission__team")
            .annotate(team_pos=Window(RowNumber(), partition_by=F("submission__team"), order_by=order))
            .filter(team_pos=1)
            .order_by(*order))


def leaderboard_datasets(*, phase: Phase) -> list[str]:
    """Dataset names of the phase, in the challenge's order (the leaderboard's columns)."""
    return phase_dataset_names(phase=phase)


def leaderboard_rows(*, phase: Phase) -> list[dict]:
    """Plain rows for templates and the API: rank, team, method, overall and per-dataset scores."""
    datasets = leaderboard_datasets(phase=phase)
    rows = []
    for rank, result in enumerate(leaderboard_entries(phase=phase), start=1):
        submission = result.submission
        rows.append({
            "rank": rank,
            "team": submission.team.name,
            "submission_id": submission.id,
            "method_name": submission.method_name,
            "paper_url": submission.paper_url,
            "code_url": submission.code_url,
            "is_baseline": submission.is_baseline,
            "primary_score": result.primary_score,
            "scores": {name: result.dataset_score(name) for name in datasets},
            "submitted_at": submission.created_at,
        })
    return rows

