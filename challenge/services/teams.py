"""Teams: creating one, joining one by its invite code, and finding a user's team in a challenge."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from challenge.models import Challenge, Team, TeamMembership
from challenge.team_names import team_name_key, team_name_normalise
from core.exceptions import ApplicationError, PermissionDeniedError

NOT_A_MEMBER = "You are not a member of a team in this challenge; create or join a team first."
#: The same, with the challenge's team page (a path: the API's clients prefix their server).
NOT_A_MEMBER_AT = (
    "You are not a member of a team in this challenge; create or join a team on its team page: {url}"
)


def _not_a_member(challenge: Challenge) -> PermissionDeniedError:
    from django.urls import reverse

    return PermissionDeniedError(NOT_A_MEMBER_AT.format(url=reverse("challenge:team", args=[challenge.slug])))


ALREADY_IN_TEAM = (
    "You are already in team {team!r} for this challenge; a participant can be in one team per challenge."
)
TEAM_NAME_TAKEN = "A team named {name!r} already exists in this challenge; choose another name."
INVITE_CODE_UNKNOWN = "No team has this invite code; check the code the team owner gave you."


@transaction.atomic
def team_create(*, challenge: Challenge, user: User, name: str, is_baseline: bool = False) -> Team:
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
def team_join(*, challenge: Challenge, user: User, invite_code: str) -> Team:
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


def _ensure_not_in_team(*, challenge: Challenge, user: User) -> None:
    existing = TeamMembership.objects.filter(challenge=challenge, user=user).select_related("team").first()
    if existing is not None:
        raise ApplicationError(ALREADY_IN_TEAM.format(team=existing.team.name))


def team_of(*, user: User, challenge: Challenge) -> Team:
    membership = TeamMembership.objects.filter(challenge=challenge, user=user).select_related("team").first()
    if membership is None:
        raise _not_a_member(challenge)
    return membership.team


# --- managing a team: rename, rotate the invite code, leave, remove a member --------------------------

NOT_THE_OWNER = "Only the team's owner can {action}; ask {owner!r}."
OWNER_CANNOT_REMOVE_SELF = "You cannot remove yourself; use Leave the team instead."
NOT_IN_THIS_TEAM = "That user is not a member of team {team!r}."
LAST_MEMBER_WITH_SUBMISSIONS = (
    "You are the last member of team {team!r}, which has submissions: a team with submissions keeps at "
    "least one member. Invite someone and leave after they join, or ask the organisers."
)


def _membership(*, team: Team, user: User) -> TeamMembership:
    membership = TeamMembership.objects.select_for_update().filter(team=team, user=user).first()
    if membership is None:
        raise PermissionDeniedError(NOT_A_MEMBER)
    return membership


def _ensure_owner(*, team: Team, user: User, action: str) -> None:
    if _membership(team=team, user=user).role != TeamMembership.Role.OWNER:
        owner = team.memberships.filter(role=TeamMembership.Role.OWNER).select_related("user").first()
        raise PermissionDeniedError(
            NOT_THE_OWNER.format(
                action=action, owner=owner.user.get_username() if owner else "the organisers"
            )
        )


@transaction.atomic
def team_rename(*, team: Team, user: User, name: str) -> Team:
    """Give the team a new name (its owner only); names stay unique within the challenge."""
    _ensure_owner(team=team, user=user, action="rename the team")
    name = team_name_normalise(name)  # the same rules as a new team's name
    key = team_name_key(name)
    if Team.objects.filter(challenge_id=team.challenge_id, name_key=key).exclude(id=team.id).exists():
        raise ApplicationError(TEAM_NAME_TAKEN.format(name=name))
    team.name, team.name_key = name, key
    team.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            team.save(update_fields=["name", "name_key"])
    except IntegrityError as exc:  # a concurrent rename or creation took the name first
        raise ApplicationError(TEAM_NAME_TAKEN.format(name=name)) from exc
    return team


@transaction.atomic
def team_invite_rotate(*, team: Team, user: User) -> Team:
    """Replace the invite code (its owner only): the old code stops working; members stay."""
    from challenge.models import new_invite_code

    _ensure_owner(team=team, user=user, action="change the invite code")
    team.invite_code = new_invite_code()
    team.save(update_fields=["invite_code"])
    return team


@transaction.atomic
def team_member_remove(*, team: Team, user: User, member_id: int) -> None:
    """Remove another member from the team (its owner only). Their submissions stay the team's."""
    _ensure_owner(team=team, user=user, action="remove a member")
    if member_id == user.pk:
        raise ApplicationError(OWNER_CANNOT_REMOVE_SELF)
    deleted, _ = TeamMembership.objects.filter(team=team, user_id=member_id).delete()
    if not deleted:
        raise ApplicationError(NOT_IN_THIS_TEAM.format(team=team.name))


@transaction.atomic
def team_leave(*, team: Team, user: User) -> bool:
    """Leave the team. An owner who leaves hands the team to its longest-standing member; the last
    member of a team without submissions deletes it. Returns whether the team was deleted.

    Raises:
        ApplicationError: the last member of a team that has submissions (they must stay attributed).
    """
    membership = _membership(team=team, user=user)
    others = team.memberships.exclude(id=membership.id).order_by("joined_at", "id")
    successor = others.first()
    if successor is None:
        if team.submissions.exists():
            raise ApplicationError(LAST_MEMBER_WITH_SUBMISSIONS.format(team=team.name))
        team.delete()
        return True
    membership.delete()
    if membership.role == TeamMembership.Role.OWNER:
        successor.role = TeamMembership.Role.OWNER
        successor.save(update_fields=["role"])
    return False
