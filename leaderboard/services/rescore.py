"""Re-scoring a phase with a before/after diff: a frozen snapshot of the board, then the comparison."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from challenge.models import Submission
from challenge.services.organiser import organiser_action_record
from challenge.services.submissions import phase_rescore
from leaderboard.models import LeaderboardSnapshot

Status = Submission.Status


def leaderboard_snapshot_take(*, phase: Any, reason: str, user: Any = None) -> LeaderboardSnapshot:
    """Freeze the phase's overall board (every row, organisers' view) before a change."""
    from leaderboard.selectors import leaderboard_rows

    rows = [
        {
            "submission_id": r["submission_id"],
            "team": r["team"],
            "method_name": r["method_name"],
            "rank": r["rank"],
            "is_baseline": r["is_baseline"],
            "primary_score": r["primary_score"],
        }
        for r in leaderboard_rows(phase=phase)
    ]
    return LeaderboardSnapshot.objects.create(
        phase=phase,
        reason=reason[:200],
        rows=rows,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


@transaction.atomic
def phase_rescore_with_snapshot(*, phase: Any, reason: str = "re-score", user: Any = None) -> int:
    """Snapshot the board, then queue every finished or failed submission of the phase for scoring again.

    Returns the number of submissions queued; `leaderboard_diff` compares the snapshot with the board.
    """
    leaderboard_snapshot_take(phase=phase, reason=reason, user=user)
    count = phase_rescore(phase=phase)
    organiser_action_record(
        challenge=phase.challenge_id,
        user=user,
        action="re-score",
        target=f"phase {phase.title}",
        detail=f"{count} submission(s): {reason}",
    )
    return count


def leaderboard_diff(*, phase: Any, snapshot: LeaderboardSnapshot | None = None) -> dict[str, Any] | None:
    """The latest snapshot against the current board: one line per team or baseline entry.

    Returns None when the phase has no snapshot, else {"snapshot", "pending" (submissions still being
    scored), "rows": [{team, method_name, before_rank, after_rank, before_score, after_score, delta,
    rank_change, status ("same", "changed", "new", "gone", or "pending": off the board while its
    submission is being scored again)}]}.
    """
    from leaderboard.selectors import leaderboard_rows

    snapshot = (
        snapshot or LeaderboardSnapshot.objects.filter(phase=phase).order_by("-created_at", "-id").first()
    )
    if snapshot is None:
        return None

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["team"], row["submission_id"] if row["is_baseline"] else 0)

    before = {key(r): r for r in snapshot.rows}
    after = {key(r): r for r in leaderboard_rows(phase=phase)}
    waiting = Submission.objects.filter(
        phase=phase, status__in=[Status.SUBMITTED, Status.QUEUED, Status.RUNNING]
    ).values_list("id", "team__name")
    waiting_ids = {submission_id for submission_id, _ in waiting}
    waiting_teams = {team for _, team in waiting}
    lines = []
    for k in list(after) + [k for k in before if k not in after]:
        old, new = before.get(k), after.get(k)
        # off the board only while its submission is scored again: pending, not gone
        scoring = old is not None and (
            old["submission_id"] in waiting_ids if old["is_baseline"] else old["team"] in waiting_teams
        )
        lines.append(_diff_line(old, new, scoring=scoring))
    return {"snapshot": snapshot, "pending": len(waiting_ids), "rows": lines}


def _diff_line(old: dict[str, Any] | None, new: dict[str, Any] | None, *, scoring: bool) -> dict[str, Any]:
    """One entry's line of `leaderboard_diff`: `old` from the snapshot, `new` from the board (one may be
    None); `scoring`: its submission is being scored again."""
    row = new or old
    assert row is not None
    line = {
        "team": row["team"],
        "method_name": row["method_name"],
        "is_baseline": row["is_baseline"],
        "before_rank": old and old["rank"],
        "after_rank": new and new["rank"],
        "before_score": old and old["primary_score"],
        "after_score": new and new["primary_score"],
        "delta": None,
        "rank_change": None,
    }
    if old is None:
        line["status"] = "new"
    elif new is None:
        line["status"] = "pending" if scoring else "gone"
    else:
        if new["primary_score"] is not None and old["primary_score"] is not None:
            line["delta"] = new["primary_score"] - old["primary_score"]
        if new["rank"] is not None and old["rank"] is not None:
            line["rank_change"] = old["rank"] - new["rank"]
        same = (
            abs(line["delta"] or 0.0) < 1e-12
            and old["rank"] == new["rank"]
            and old["submission_id"] == new["submission_id"]
        )
        line["status"] = "same" if same else "changed"
    return line
