"""Teams: creating one, joining one by its invite code, and finding a user's team in a challenge."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from challenge.exceptions import ApplicationError, PermissionDeniedError
from challenge.models import Challenge, Team, TeamMembership
from challenge.team_names import team_name_key, team_name_normalise

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
    """Create a team with `user` as its owner.

    The name is stored normalised (`challenge.team_names`: NFKC, control and bidi characters refused);
    a name whose case-folded key another team of the challenge holds is refused with TEAM_NAME_TAKEN,
    also when the two creations race (the database's unique constraint decides, never a 500).
    """
    _ensure_not_in_team(challenge=challenge, user=user)
    name = team_name_normalise(name)
    key = team_name_key(name)
    if _name_taken(challenge=challenge, key=key):
        raise ApplicationError(TEAM_NAME_TAKEN.format(name=name))
    team = Team(
        challenge=challenge,
        name=name,
        name_key=key,
        is_baseline=is_baseline,
        is_approved=is_baseline or not challenge.teams_need_approval,
    )
    team.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            team.save()
    except IntegrityError as exc:  # a concurrent creation of the same name (in any case) committed first
        raise ApplicationError(TEAM_NAME_TAKEN.format(name=name)) from exc
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


def _name_taken(*, challenge: Challenge, key: str) -> bool:
    return Team.objects.filter(challenge=challenge, name_key=key).exists()


def _ensure_not_in_team(*, challenge: Challenge, user: AbstractBaseUser) -> None:
    existing = TeamMembership.objects.filter(challenge=challenge, user=user).select_related("team").first()
    if existing is not None:
        raise ApplicationError(ALREADY_IN_TEAM.format(team=existing.team.name))


def team_of(*, user: AbstractBaseUser, challenge: Challenge) -> Team:
    membership = TeamMembership.objects.filter(challenge=challenge, user=user).select_related("team").first()
    if membership is None:
        raise PermissionDeniedError(NOT_A_MEMBER)
    return membership.team
