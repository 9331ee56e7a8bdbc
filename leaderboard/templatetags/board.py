"""`{% board_place submission as place %}`: where a submission stands on its phase's overall board, for
the result page (a template tag, so `challenge` pages read the board without importing `leaderboard`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import template
from django.urls import reverse

from leaderboard.boards.responses import board_rows_cached
from leaderboard.selectors import board_resolve, leaderboard_visible

if TYPE_CHECKING:
    from challenge.models import Submission

register = template.Library()


@register.simple_tag(takes_context=True)
def board_place(context: template.Context, submission: Submission) -> dict[str, Any] | None:
    """{"rank": its rank or None (not counted, or a baseline), "of": ranked entries, "url": the board}
    when the viewer may see the board (published, or an organiser); else None: the rank would disclose
    the other teams' standing."""
    request = context.get("request")
    phase = submission.phase
    if request is None or not leaderboard_visible(phase=phase, user=request.user):
        return None
    rows = board_rows_cached(board=board_resolve(phase=phase))
    row = next((r for r in rows if r["submission_id"] == submission.id), None)
    return {
        "rank": None if row is None else row["rank"],
        "counted": row is not None,
        "of": sum(1 for r in rows if r["rank"]),
        "url": reverse("leaderboard:phase", args=[phase.challenge.slug, phase.slug]),
    }


@register.simple_tag
def rescore_note(submission: Submission) -> dict[str, Any] | None:
    """{"since": when, "reason": the organisers' reason} while a submission that was scored before waits
    for (or runs) the re-score of its phase; None otherwise."""
    from challenge.models import Submission
    from leaderboard.models import LeaderboardSnapshot

    if submission.status not in (Submission.Status.QUEUED, Submission.Status.RUNNING):
        return None
    snapshot = (
        LeaderboardSnapshot.objects.filter(phase_id=submission.phase_id, created_at__gt=submission.created_at)
        .order_by("-created_at")
        .first()
    )
    if snapshot is None:
        return None
    return {"since": snapshot.created_at, "reason": snapshot.reason}
