"""The organisers' writes beyond the admin: leaderboard visibility, the public-choice lock, team
approval, moderation and quota refunds. Same rules as every service: keyword-only, validated, atomic."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from challenge.events import phase_boards_changed
from challenge.models import Challenge, OrganiserAction, Phase, Submission, Team, TeamMembership
from challenge.services.submissions import submission_cancel_as_organiser
from core.exceptions import ApplicationError

MODERATION_NEEDS_REASON = "Give a reason when hiding or disqualifying an entry; the team will read it."
MODERATION_UNKNOWN = "Unknown moderation {value!r}; use one of: shown, hidden, disqualified."
VISIBILITY_UNKNOWN = "Unknown visibility {value!r}; use one of: {choices}."
REFUND_NEEDS_REASON = "Say why the quota is refunded (for example: the platform failed while scoring)."
PHASE_ENDS_BEFORE_START = "The phase must end after it starts; leave the end empty for an open-ended phase."
MEMBER_NOT_IN_TEAM = "That account is not a member of team {team}."
#: The phase settings an organiser edits in the console (the admin's fields, without the ground truth).
PHASE_SETTINGS = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "max_submissions_per_day",
    "max_submissions_total",
    "allowed_formats",
    "aggregation",
    "final_submission",
    "leaderboard_visibility",
    "query_order",
    "intervals_enabled",
    "interval_level",
    "evaluation_soft_limit_s",
    "evaluation_hard_limit_s",
)


def organiser_action_record(
    *, challenge: Challenge | int, user: AbstractBaseUser | None, action: str, target: str, detail: str = ""
) -> OrganiserAction | None:
    """Log one organiser action (who, what, when); nothing without a user (a command or a migration)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    challenge_id = challenge if isinstance(challenge, int) else challenge.id
    return OrganiserAction.objects.create(
        challenge_id=challenge_id,
        user=user,
        username=user.get_username(),
        action=action,
        target=target[:200],
        detail=detail,
    )


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


@transaction.atomic
def phase_settings_update(*, phase: Phase, actor: AbstractBaseUser | None = None, **changes: Any) -> Phase:
    """Change a phase's settings (`PHASE_SETTINGS`): validated like the admin's form, boards refreshed,
    and every changed value logged as "field: old → new".

    Raises:
        ApplicationError: a setting that is not in `PHASE_SETTINGS`.
        ValidationError: an invalid value (the model's own checks).
    """
    unknown = sorted(set(changes) - set(PHASE_SETTINGS))
    if unknown:
        raise ApplicationError(f"Unknown phase setting(s): {', '.join(unknown)}.")
    before = {name: getattr(phase, name) for name in changes}
    for name, value in changes.items():
        setattr(phase, name, value)
    if phase.ends_at is not None and phase.starts_at is not None and phase.ends_at <= phase.starts_at:
        raise ValidationError({"ends_at": PHASE_ENDS_BEFORE_START})
    phase.full_clean()
    changed = [name for name in changes if before[name] != getattr(phase, name)]
    if not changed:
        return phase
    phase.save(update_fields=changed)
    phase_boards_changed(phase_ids=[phase.id])
    organiser_action_record(
        challenge=phase.challenge_id,
        user=actor,
        action="phase settings",
        target=f"phase {phase.title}",
        detail="; ".join(
            f"{name}: {_shown(before[name])} → {_shown(getattr(phase, name))}" for name in changed
        ),
    )
    return phase


@transaction.atomic
def phase_visibility_set(*, phase: Phase, visibility: str, actor: AbstractBaseUser | None = None) -> Phase:
    """Who sees the phase's scores: hidden, each team its own (owners), or public (publishing)."""
    choices = [c.value for c in Phase.LeaderboardVisibility]
    if visibility not in choices:
        raise ApplicationError(VISIBILITY_UNKNOWN.format(value=visibility, choices=", ".join(choices)))
    phase.leaderboard_visibility = visibility
    phase.save(update_fields=["leaderboard_visibility"])
    phase_boards_changed(phase_ids=[phase.id])
    organiser_action_record(
        challenge=phase.challenge_id,
        user=actor,
        action="visibility",
        target=f"phase {phase.title}",
        detail=visibility,
    )
    return phase


@transaction.atomic
def phase_public_choice_lock(*, phase: Phase, locked: bool, actor: AbstractBaseUser | None = None) -> Phase:
    phase.public_choice_locked = locked
    phase.save(update_fields=["public_choice_locked"])
    organiser_action_record(
        challenge=phase.challenge_id,
        user=actor,
        action="lock public choice" if locked else "unlock public choice",
        target=f"phase {phase.title}",
    )
    return phase


@transaction.atomic
def team_approve(*, team: Team, approved: bool = True, actor: AbstractBaseUser | None = None) -> Team:
    team.is_approved = approved
    team.save(update_fields=["is_approved"])
    organiser_action_record(
        challenge=team.challenge_id,
        user=actor,
        action="approve team" if approved else "withdraw approval",
        target=f"team {team.name}",
    )
    return team


@transaction.atomic
def team_member_remove_as_organiser(
    *, team: Team, member_id: int, actor: AbstractBaseUser | None = None
) -> None:
    """Take a participant out of a team (the organisers' decision); the team keeps its submissions."""
    membership = TeamMembership.objects.filter(team=team, user_id=member_id).select_related("user").first()
    if membership is None:
        raise ApplicationError(MEMBER_NOT_IN_TEAM.format(team=team.name))
    username = membership.user.get_username()
    membership.delete()
    organiser_action_record(
        challenge=team.challenge_id,
        user=actor,
        action="remove member",
        target=f"team {team.name}",
        detail=username,
    )


@transaction.atomic
def submission_moderate(
    *, submission: Submission, moderation: str, reason: str = "", actor: AbstractBaseUser | None = None
) -> Submission:
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
    # created_by is NULL once the uploader deleted their account; the entry can still be moderated
    submission.full_clean(exclude=["file", "created_by"])
    submission.save(update_fields=["moderation", "moderation_reason", "updated_at"])
    phase_boards_changed(phase_ids=[submission.phase_id])
    organiser_action_record(
        challenge=submission.phase.challenge_id,
        user=actor,
        action=value or "shown",
        target=f"submission #{submission.id}",
        detail=reason,
    )
    return submission


@transaction.atomic
def submission_quota_refund(
    *, submission: Submission, reason: str, refunded: bool = True, actor: AbstractBaseUser | None = None
) -> Submission:
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
    organiser_action_record(
        challenge=submission.phase.challenge_id,
        user=actor,
        action="refund quota" if refunded else "undo refund",
        target=f"submission #{submission.id}",
        detail=reason,
    )
    return submission


def submission_cancel_by_organiser(
    *, submission: Submission, reason: str = "", actor: AbstractBaseUser | None = None
) -> bool:
    """Cancel a team's waiting submission from the console, and log it."""
    submission_cancel_as_organiser(submission=submission, reason=reason)
    organiser_action_record(
        challenge=submission.phase.challenge_id,
        user=actor,
        action="cancel",
        target=f"submission #{submission.id}",
        detail=reason.strip(),
    )
    return True
