"""Teams: creating one, joining one by its invite code, and finding a user's team in a challenge."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from challenge.exceptions import ApplicationError, PermissionDeniedError
from challenge.models import Challenge, Team, TeamMembership

NOT_A_MEMBER = "You are not a member of a team in this challenge; create or join a team first."
ALREADY_IN_TEAM = (
    "You are already in team {team!r} for this challenge; a participant can be in one team per challenge."
)
TEAM_NAME_TAKEN = "A team named {name!r} already exists in this challenge; choose another name."
INVITE_CODE_UNKNOWN = "No team has this invite code; check the code the team owner gave you."


@transaction.atomic
def team_create(
    *, challenge: Challenge, user: AbstractBaseUser, name: str, is_baseline: bool = False
) -> Team:
    """Create a team with `user` as its owner."""
    _ensure_not_in_team(challenge=challenge, user=user)
    name = name.strip()
    if Team.objects.filter(challenge=challenge, name__iexact=name).exists():
        raise ApplicationError(TEAM_NAME_TAKEN.format(name=name))
    team = Team(
        challenge=challenge,
        name=name,
        is_baseline=is_baseline,
        is_approved=is_baseline or not challenge.teams_need_approval,
    )
    team.full_clean()
    team.save()
    membership = TeamMembership(team=team, user=user, challenge=challenge, role=TeamMembership.Role.OWNER)
    membership.full_clean()
    membership.save()
    return team


@transaction.atomic
def team_join(*, challenge: Challenge, user: AbstractBaseUser, invite_code: str) -> Team:
    team = Team.objects.filter(challenge=challenge, invite_code=invite_code.strip()).first()
    if team is None:
        raise ApplicationError(INVITE_CODE_UNKNOWN)
    _ensure_not_in_team(challenge=challenge, user=user)
    membership = TeamMembership(team=team, user=user, challenge=challenge, role=TeamMembership.Role.MEMBER)
    membership.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError as exc:  # a concurrent join or create won the race
        raise ApplicationError(ALREADY_IN_TEAM.format(team=team.name)) from exc
    return team


def _ensure_not_in_team(*, challenge: Challenge, user: AbstractBaseUser) -> None:
    existing = TeamMembership.objects.filter(challenge=challenge, user=user).select_related("team").first()
    if existing is not None:
        raise ApplicationError(ALREADY_IN_TEAM.format(team=existing.team.name))


def team_of(*, user: AbstractBaseUser, challenge: Challenge) -> Team:
    membership = TeamMembership.objects.filter(challenge=challenge, user=user).select_related("team").first()
    if membership is None:
        raise PermissionDeniedError(NOT_A_MEMBER)
    return membership.team
