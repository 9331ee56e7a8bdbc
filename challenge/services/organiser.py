"""The organisers' writes beyond the admin: leaderboard visibility, the public-choice lock, team
approval, moderation and quota refunds. Same rules as every service: keyword-only, validated, atomic.

The challenge's own settings are in `challenge.services.challenges` and the log in
`challenge.services.audit`; both are re-exported here for callers."""

from __future__ import annotations

from typing import IO, Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction

from challenge.events import phase_boards_changed
from challenge.models import Challenge, Phase, Submission, Team, TeamMembership
from challenge.services.audit import organiser_action_record as organiser_action_record
from challenge.services.audit import shown as _shown
from challenge.services.challenges import CHALLENGE_CREATE_STAFF_ONLY as CHALLENGE_CREATE_STAFF_ONLY
from challenge.services.challenges import CHALLENGE_SETTINGS as CHALLENGE_SETTINGS
from challenge.services.challenges import CHALLENGE_SLUG_TAKEN as CHALLENGE_SLUG_TAKEN
from challenge.services.challenges import DATASET_IN_USE as DATASET_IN_USE
from challenge.services.challenges import challenge_create as challenge_create
from challenge.services.challenges import challenge_settings_update as challenge_settings_update
from challenge.services.phases import CODE_SETTINGS, phase_ground_truth_set
from challenge.services.submissions import submission_cancel_as_organiser
from core.exceptions import ApplicationError

MODERATION_NEEDS_REASON = "Give a reason when hiding or disqualifying an entry; the team will read it."
MODERATION_UNKNOWN = "Unknown moderation {value!r}; use one of: shown, hidden, disqualified."
VISIBILITY_UNKNOWN = "Unknown visibility {value!r}; use one of: {choices}."
REFUND_NEEDS_REASON = "Say why the quota is refunded (for example: the platform failed while scoring)."
PHASE_ENDS_BEFORE_START = "The phase must end after it starts; leave the end empty for an open-ended phase."
MEMBER_NOT_IN_TEAM = "That account is not a member of team {team}."
PHASE_SLUG_TAKEN = "This challenge has a phase {slug!r} already; choose another short name."
KIND_LOCKED = "The phase has submissions already; its kind (code or predictions) can no longer change."
#: The phase settings an organiser edits in the console (the admin's fields, without the ground truth
#: and the slug, which names the phase in URLs and in the teams' files).
PHASE_SETTINGS = (
    "title",
    "order",
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
    "submission_kind",
    *CODE_SETTINGS,
)


@transaction.atomic
def phase_create(
    *,
    challenge: Challenge,
    actor: User | None = None,
    slug: str,
    title: str,
    starts_at: Any,
    **settings: Any,
) -> Phase:
    """Add a phase to the challenge with any of `PHASE_SETTINGS`; validated like the admin's form,
    boards refreshed, logged. It accepts no submission until its ground truth is uploaded.

    Raises:
        ApplicationError: a setting that is not in `PHASE_SETTINGS`.
        ValidationError: the slug is taken or a value is invalid (nothing is created).
    """
    unknown = sorted(set(settings) - set(PHASE_SETTINGS))
    if unknown:
        raise ApplicationError(f"Unknown phase setting(s): {', '.join(unknown)}.")
    if Phase.objects.filter(challenge=challenge, slug=slug).exists():
        raise ValidationError({"slug": PHASE_SLUG_TAKEN.format(slug=slug)})
    phase = Phase(challenge=challenge, slug=slug, title=title, starts_at=starts_at, **settings)
    if phase.ends_at is not None and phase.ends_at <= phase.starts_at:
        raise ValidationError({"ends_at": PHASE_ENDS_BEFORE_START})
    phase.full_clean()
    phase.save()
    phase_boards_changed(phase_ids=[phase.id])
    organiser_action_record(
        challenge=challenge,
        user=actor,
        action="create phase",
        target=f"phase {phase.title}",
        detail=f"{slug}, {phase.get_submission_kind_display()}; opens {phase.starts_at:%Y-%m-%d %H:%M} UTC",
    )
    return phase


@transaction.atomic
def phase_ground_truth_upload(
    *,
    phase: Phase,
    file: IO[bytes] | File[bytes],
    annotations: IO[bytes] | File[bytes] | None = None,
    actor: User | None = None,
) -> Phase:
    """The console's ground-truth upload: `phase_ground_truth_set` (the admin's, the command's and the
    API's one service), then the action logged with the file's digest and the datasets it holds.

    Raises:
        ValidationError: the ground truth or the annotations are invalid (nothing is stored or logged).
    """
    replaced = bool(phase.ground_truth)
    phase = phase_ground_truth_set(phase=phase, file=file, annotations=annotations)
    splits = phase.splits.select_related("dataset").order_by("dataset__order")
    organiser_action_record(
        challenge=phase.challenge_id,
        user=actor,
        action="replace ground truth" if replaced else "upload ground truth",
        target=f"phase {phase.title}",
        detail=f"sha256 {phase.ground_truth_sha256[:12]}; "
        + ", ".join(f"{s.dataset.name} {s.num_queries}×{s.num_videos}" for s in splits)
        + (f"; caption audit against {getattr(annotations, 'name', 'annotations')}" if annotations else ""),
    )
    return phase


@transaction.atomic
def phase_settings_update(*, phase: Phase, actor: User | None = None, **changes: Any) -> Phase:
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
    if (
        "submission_kind" in changes
        and before["submission_kind"] != phase.submission_kind
        and phase.submissions.exists()
    ):
        raise ValidationError({"submission_kind": KIND_LOCKED})
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
def phase_visibility_set(*, phase: Phase, visibility: str, actor: User | None = None) -> Phase:
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
def phase_public_choice_lock(*, phase: Phase, locked: bool, actor: User | None = None) -> Phase:
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
def team_approve(*, team: Team, approved: bool = True, actor: User | None = None) -> Team:
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
def team_member_remove_as_organiser(*, team: Team, member_id: int, actor: User | None = None) -> None:
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
    *, submission: Submission, moderation: str, reason: str = "", actor: User | None = None
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
    *, submission: Submission, reason: str, refunded: bool = True, actor: User | None = None
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
    *, submission: Submission, reason: str = "", actor: User | None = None
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
