"""The organisers' writes beyond the admin: leaderboard visibility, the public-choice lock, team
approval, moderation and quota refunds. Same rules as every service: keyword-only, validated, atomic."""

from __future__ import annotations

from django.db import transaction

from challenge.exceptions import ApplicationError
from challenge.models import Phase, Submission, Team
from challenge.services.boards import phase_boards_changed

MODERATION_NEEDS_REASON = "Give a reason when hiding or disqualifying an entry; the team will read it."
MODERATION_UNKNOWN = "Unknown moderation {value!r}; use one of: shown, hidden, disqualified."
VISIBILITY_UNKNOWN = "Unknown visibility {value!r}; use one of: {choices}."
REFUND_NEEDS_REASON = "Say why the quota is refunded (for example: the platform failed while scoring)."


@transaction.atomic
def phase_visibility_set(*, phase: Phase, visibility: str) -> Phase:
    """Who sees the phase's scores: hidden, each team its own (owners), or public (publishing)."""
    choices = [c.value for c in Phase.LeaderboardVisibility]
    if visibility not in choices:
        raise ApplicationError(VISIBILITY_UNKNOWN.format(value=visibility, choices=", ".join(choices)))
    phase.leaderboard_visibility = visibility
    phase.save(update_fields=["leaderboard_visibility"])
    phase_boards_changed(phase_ids=[phase.id])
    return phase


@transaction.atomic
def phase_public_choice_lock(*, phase: Phase, locked: bool) -> Phase:
    phase.public_choice_locked = locked
    phase.save(update_fields=["public_choice_locked"])
    return phase


@transaction.atomic
def team_approve(*, team: Team, approved: bool = True) -> Team:
    team.is_approved = approved
    team.save(update_fields=["is_approved"])
    return team


@transaction.atomic
def submission_moderate(*, submission: Submission, moderation: str, reason: str = "") -> Submission:
    """Hide or disqualify an entry (left off every leaderboard), or show it again; a reason is required."""
    values = {
        "shown": "",
        "": "",
        "hidden": Submission.Moderation.HIDDEN,
        "disqualified": Submission.Moderation.DISQUALIFIED,
    }
    if moderation not in values:
        raise ApplicationError(MODERATION_UNKNOWN.format(value=moderation))
    value = values[moderation]
    reason = reason.strip()
    if value and not reason:
        raise ApplicationError(MODERATION_NEEDS_REASON)
    submission.moderation, submission.moderation_reason = value, reason if value else ""
    submission.full_clean(exclude=["file"])
    submission.save(update_fields=["moderation", "moderation_reason", "updated_at"])
    phase_boards_changed(phase_ids=[submission.phase_id])
    return submission


@transaction.atomic
def submission_quota_refund(*, submission: Submission, reason: str, refunded: bool = True) -> Submission:
    """Give a submission back to the team's quota (the platform was at fault); `refunded=False` undoes it."""
    reason = reason.strip()
    if refunded and not reason:
        raise ApplicationError(REFUND_NEEDS_REASON)
    submission.quota_refunded = refunded
    fields = ["quota_refunded", "updated_at"]
    if refunded:
        note = f"Quota refunded: {reason}"
        submission.moderation_reason = (
            f"{submission.moderation_reason}\n{note}".strip()
            if submission.moderation
            else submission.moderation_reason
        )
        submission.error_message = (
            f"{submission.error_message}\n\n{note}".strip()
            if submission.status == Submission.Status.FAILED
            else submission.error_message
        )
        fields += ["moderation_reason", "error_message"]
    submission.save(update_fields=fields)
    return submission
