"""The organisers' writes and reads that go beyond the admin: visibility, team approval, moderation,
quota refunds, metadata export, and users' notification preferences.

Kept apart from `challenge.services` (uploads and scoring) so the two evolve independently; the
same rules apply: keyword-only, validated, atomic.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet

from challenge.exceptions import ApplicationError
from challenge.models import Phase, Submission, Team, UserProfile

MODERATION_NEEDS_REASON = "Give a reason when hiding or disqualifying an entry; the team will read it."
MODERATION_UNKNOWN = "Unknown moderation {value!r}; use one of: shown, hidden, disqualified."
VISIBILITY_UNKNOWN = "Unknown visibility {value!r}; use one of: {choices}."
REFUND_NEEDS_REASON = "Say why the quota is refunded (for example: the platform failed while scoring)."

#: Columns of the submissions' metadata export.
METADATA_COLUMNS = (
    "id",
    "team",
    "phase",
    "method_name",
    "status",
    "file_format",
    "file_size",
    "checksum_sha256",
    "original_filename",
    "is_public",
    "is_final",
    "is_baseline",
    "moderation",
    "moderation_reason",
    "quota_refunded",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
    "overall_score",
    "error_message",
    "paper_url",
    "code_url",
)


@transaction.atomic
def phase_visibility_set(*, phase: Phase, visibility: str) -> Phase:
    """Who sees the phase's scores: hidden, each team its own (owners), or public (publishing)."""
    choices = [c.value for c in Phase.LeaderboardVisibility]
    if visibility not in choices:
        raise ApplicationError(VISIBILITY_UNKNOWN.format(value=visibility, choices=", ".join(choices)))
    phase.leaderboard_visibility = visibility
    phase.save(update_fields=["leaderboard_visibility"])
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


def submission_metadata_list(*, phase: Phase) -> QuerySet[Submission]:
    return (
        Submission.objects.filter(phase=phase)
        .select_related("team", "phase", "created_by", "result")
        .order_by("created_at", "id")
    )


def submission_metadata_rows(*, phase: Phase) -> Iterator[list[Any]]:
    """Rows of `METADATA_COLUMNS` for every submission of the phase, oldest first (one query)."""
    for s in submission_metadata_list(phase=phase).iterator(chunk_size=2000):
        try:
            score = s.result.primary_score
        except Submission.result.RelatedObjectDoesNotExist:
            score = None
        yield [
            s.id,
            s.team.name,
            s.phase.slug,
            s.method_name,
            s.status,
            s.file_format,
            s.file_size,
            s.checksum_sha256,
            s.original_filename,
            int(s.is_public),
            int(s.is_final),
            int(s.is_baseline),
            s.moderation,
            s.moderation_reason,
            int(s.quota_refunded),
            s.created_by.username if s.created_by else "",
            s.created_at.isoformat(),
            s.started_at.isoformat() if s.started_at else "",
            s.finished_at.isoformat() if s.finished_at else "",
            "" if score is None else repr(score),
            s.error_message,
            s.paper_url,
            s.code_url,
        ]


def user_profile_get(*, user: AbstractBaseUser) -> UserProfile:
    profile, _ = UserProfile.objects.get_or_create(user=user)
    return profile


@transaction.atomic
def user_profile_update(
    *, user: AbstractBaseUser, email: str | None = None, email_notifications: bool | None = None
) -> UserProfile:
    profile = user_profile_get(user=user)
    if email is not None and email != user.email:
        user.email = email
        user.full_clean(exclude=["password"])
        user.save(update_fields=["email"])
    if email_notifications is not None:
        profile.email_notifications = email_notifications
        profile.save(update_fields=["email_notifications"])
    return profile
