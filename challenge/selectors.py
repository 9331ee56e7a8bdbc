"""Reads of the challenge app, with the joins each caller needs."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet

from challenge.exceptions import NotFoundError
from challenge.models import Challenge, Dataset, Phase, Submission, Team, TeamMembership

CHALLENGE_NOT_FOUND = "No challenge with this name exists."
PHASE_NOT_FOUND = "No phase with this id exists."
SUBMISSION_NOT_FOUND = "No submission with this id exists, or it belongs to another team."


def challenge_list(*, user: AbstractBaseUser | AnonymousUser | None = None) -> QuerySet[Challenge]:
    qs = Challenge.objects.all()
    if user is None or not user.is_staff:
        qs = qs.filter(is_public=True)
    return qs


def challenge_get(*, slug: str, user: AbstractBaseUser | AnonymousUser | None = None) -> Challenge:
    challenge = challenge_list(user=user).filter(slug=slug).first()
    if challenge is None:
        raise NotFoundError(CHALLENGE_NOT_FOUND)
    return challenge


def phase_list(*, challenge: Challenge) -> QuerySet[Phase]:
    return challenge.phases.select_related("challenge").prefetch_related("splits__dataset").order_by("order", "id")


def phase_get(*, phase_id: int | None = None, challenge: Challenge | None = None, slug: str | None = None,
              user: AbstractBaseUser | AnonymousUser | None = None) -> Phase:
    qs = Phase.objects.select_related("challenge")
    if user is None or not user.is_staff:
        qs = qs.filter(challenge__is_public=True)
    phase = (qs.filter(id=phase_id) if phase_id is not None else qs.filter(challenge=challenge, slug=slug)).first()
    if phase is None:
        raise NotFoundError(PHASE_NOT_FOUND)
    return phase


def phase_dataset_names(*, phase: Phase) -> list[str]:
    """The phase's datasets (its splits) in the challenge's order; the challenge's datasets before any upload."""
    names = list(phase.splits.order_by("dataset__order", "dataset__id").values_list("dataset__name", flat=True))
    if names:
        return names
    return list(Dataset.objects.filter(challenge_id=phase.challenge_id).values_list("name", flat=True))


def team_for_user(*, user: AbstractBaseUser | AnonymousUser, challenge: Challenge) -> Team | None:
    if not user.is_authenticated:
        return None
    membership = TeamMembership.objects.filter(user=user, challenge=challenge).select_related("team").first()
    return None if membership is None else membership.team


def team_members(*, team: Team) -> QuerySet[TeamMembership]:
    return team.memberships.select_related("user").order_by("joined_at")


def submission_list(*, user: AbstractBaseUser, challenge: Challenge | None = None,
                    phase: Phase | None = None) -> QuerySet[Submission]:
    """The submissions of the user's teams (all of them for organisers' API use is not implied)."""
    qs = (Submission.objects.filter(team__memberships__user=user)
          .select_related("team", "phase", "phase__challenge", "created_by"))
    if challenge is not None:
        qs = qs.filter(phase__challenge=challenge)
    if phase is not None:
        qs = qs.filter(phase=phase)
    return qs.order_by("-created_at", "-id")


def submission_get(*, submission_id: int, user: AbstractBaseUser | AnonymousUser) -> Submission:
    """A submission its team's members and the organisers may read; 404 for everyone else."""
    qs = Submission.objects.select_related("team", "phase", "phase__challenge", "created_by", "result")
    if not user.is_authenticated:
        raise NotFoundError(SUBMISSION_NOT_FOUND)
    if not user.is_staff:
        qs = qs.filter(team__memberships__user=user)
    submission = qs.filter(id=submission_id).first()
    if submission is None:
        raise NotFoundError(SUBMISSION_NOT_FOUND)
    return submission


def submission_results_visible(*, submission: Submission, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Scores of a hidden phase stay hidden, even from the submitting team, until published; with the
    owners-and-organisers setting the team sees its own (only members and organisers get the submission)."""
    return submission.phase.results_visible_to_owners or bool(user.is_staff)


def submission_result(*, submission: Submission, user: AbstractBaseUser | AnonymousUser) -> Any:
    """The submission's `leaderboard.Result` when the user may see scores, else None.

    Read through the reverse one-to-one accessor, so `challenge` never imports `leaderboard`.
    """
    if not submission_results_visible(submission=submission, user=user):
        return None
    try:
        return submission.result
    except ObjectDoesNotExist:
        return None
