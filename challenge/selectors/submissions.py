"""Reads of submissions: a team's, one as its team or organiser may see it, the quota's count, and
the organisers' export of every submission's metadata."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet

from challenge.models import Challenge, Phase, Submission, Team, TeamMembership
from challenge.selectors.challenges import _organised_ids, challenge_is_organiser
from core.exceptions import NotFoundError

SUBMISSION_NOT_FOUND = "No submission with this id exists, or it belongs to another team."


def submission_list(
    *, user: User, challenge: Challenge | None = None, phase: Phase | None = None
) -> QuerySet[Submission]:
    """The submissions of the user's teams (all of them for organisers' API use is not implied)."""
    qs = Submission.objects.filter(team__memberships__user=user).select_related(
        "team", "phase", "phase__challenge", "created_by"
    )
    if challenge is not None:
        qs = qs.filter(phase__challenge=challenge)
    if phase is not None:
        qs = qs.filter(phase=phase)
    return qs.order_by("-created_at", "-id")


def submission_get(*, submission_id: int, user: User | AnonymousUser) -> Submission:
    """A submission its team's members and the challenge's organisers may read; 404 for everyone else."""
    qs = Submission.objects.select_related("team", "phase", "phase__challenge", "created_by", "result")
    if not user.is_authenticated:
        raise NotFoundError(SUBMISSION_NOT_FOUND)
    if not user.is_superuser:
        own_teams = TeamMembership.objects.filter(user=user).values("team_id")
        qs = qs.filter(Q(team_id__in=own_teams) | Q(phase__challenge_id__in=_organised_ids(user)))
    submission = qs.filter(id=submission_id).first()
    if submission is None:
        raise NotFoundError(SUBMISSION_NOT_FOUND)
    return submission


def submission_results_visible(*, submission: Submission, user: User | AnonymousUser) -> bool:
    """Scores of a hidden phase stay hidden, even from the submitting team, until published; with the
    owners-and-organisers setting the team sees its own (only members and organisers get the submission)."""
    return submission.phase.results_visible_to_owners or challenge_is_organiser(
        user=user, challenge=submission.phase.challenge_id
    )


def submission_result(*, submission: Submission, user: User | AnonymousUser) -> Any:
    """The submission's `leaderboard.Result` when the user may see scores, else None.

    Read through the reverse one-to-one accessor, so `challenge` never imports `leaderboard`.
    """
    if not submission_results_visible(submission=submission, user=user):
        return None
    try:
        return submission.result
    except ObjectDoesNotExist:
        return None


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


def submission_quota_counted(*, team: Team, phase: Phase) -> QuerySet[Submission]:
    """The team's submissions that count towards the phase's quota (failed, cancelled and refunded
    ones are free, except a program's own failures in a code phase that counts them); the one
    definition the quota check and the pages share."""
    free = [Submission.Status.CANCELLED]
    if not (phase.is_code and phase.code_failures_count):
        free.append(Submission.Status.FAILED)
    return Submission.objects.filter(team=team, phase=phase, quota_refunded=False).exclude(status__in=free)


def submission_same_file(*, team: Team, phase: Phase, sha256: str) -> Submission | None:
    """The team's earliest submission to the phase of the file with this sha256 that is not FAILED or
    CANCELLED (a failed or cancelled file may be sent again), or None."""
    return (
        Submission.objects.filter(team=team, phase=phase, checksum_sha256=sha256.lower())
        .exclude(status__in=[Submission.Status.FAILED, Submission.Status.CANCELLED])
        .order_by("created_at", "id")
        .first()
    )
