"""Managing a team: rename, new invite code, remove a member, leave."""

from __future__ import annotations

import pytest

from challenge.models import Team, TeamMembership
from challenge.services import (
    team_invite_rotate,
    team_join,
    team_leave,
    team_member_remove,
    team_rename,
)
from core.exceptions import ApplicationError, PermissionDeniedError
from tests.factories import SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(team, challenge):
    user = UserFactory(username="mia")
    team_join(challenge=challenge, user=user, invite_code=team.invite_code)
    return user


def test_the_owner_renames_and_names_stay_unique(team, participant, member, other_participant):
    team_rename(team=team, user=participant, name="  Alpha Prime ")
    assert Team.objects.get(id=team.id).name == "Alpha Prime"
    with pytest.raises(ApplicationError, match="already exists"):
        team_rename(team=team, user=participant, name="beta")
    with pytest.raises(PermissionDeniedError, match="Only the team's owner can rename the team; ask 'alice'"):
        team_rename(team=team, user=member, name="Mia's team")


def test_a_new_invite_code_replaces_the_old_one(team, participant, challenge):
    old = team.invite_code
    team_invite_rotate(team=team, user=participant)
    assert team.invite_code != old
    with pytest.raises(ApplicationError, match="No team has this invite code"):
        team_join(challenge=challenge, user=UserFactory(), invite_code=old)
    assert team_join(challenge=challenge, user=UserFactory(), invite_code=team.invite_code) == team


def test_the_owner_removes_a_member_but_not_themselves(team, participant, member):
    with pytest.raises(ApplicationError, match="use Leave the team"):
        team_member_remove(team=team, user=participant, member_id=participant.id)
    with pytest.raises(PermissionDeniedError):
        team_member_remove(team=team, user=member, member_id=participant.id)
    team_member_remove(team=team, user=participant, member_id=member.id)
    assert list(team.members.values_list("username", flat=True)) == ["alice"]
    with pytest.raises(ApplicationError, match="not a member of team 'Alpha'"):
        team_member_remove(team=team, user=participant, member_id=member.id)


def test_an_owner_who_leaves_hands_the_team_over(team, participant, member):
    assert team_leave(team=team, user=participant) is False
    assert TeamMembership.objects.get(team=team).user == member
    assert TeamMembership.objects.get(team=team).role == TeamMembership.Role.OWNER


def test_the_last_member_deletes_an_empty_team_but_not_one_with_submissions(team, participant, phase):
    SubmissionFactory(team=team, phase=phase)
    with pytest.raises(ApplicationError, match="a team with submissions keeps at least one member"):
        team_leave(team=team, user=participant)
    team.submissions.all().delete()
    assert team_leave(team=team, user=participant) is True
    assert not Team.objects.filter(id=team.id).exists()


def test_a_rename_follows_the_team_name_rules(team, participant, challenge):
    from challenge.services import team_create

    team_create(challenge=challenge, user=UserFactory(), name="Beta")
    with pytest.raises(ApplicationError, match="already exists in this challenge"):
        team_rename(team=team, user=participant, name="ＢＥＴＡ")
    with pytest.raises(ApplicationError, match="control, bidirectional or invisible"):
        team_rename(team=team, user=participant, name="\u202eateB")
    renamed = team_rename(team=team, user=participant, name=" Ｇａｍｍａ ")
    assert (renamed.name, renamed.name_key) == ("Gamma", "gamma")
