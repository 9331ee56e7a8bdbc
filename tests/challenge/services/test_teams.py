"""Team names that cannot impersonate another team: normalised, look-alikes refused, one name per
challenge in any case, and a lost race answered with the same sentence as a plain duplicate."""

from __future__ import annotations

import pytest

from challenge.models import Team
from challenge.services import team_create
from challenge.services import teams as team_services
from core.exceptions import ApplicationError
from tests.factories import UserFactory


def test_a_name_is_stored_normalised(challenge):
    team = team_create(challenge=challenge, user=UserFactory(), name="  Ｔｅａｍ   Ｇａｍｍａ ")
    assert team.name == "Team Gamma"
    assert team.name_key == "team gamma"


@pytest.mark.parametrize("look_alike", ["ALPHA", "alpha", "Ａｌｐｈａ", " Alpha  "])
def test_a_look_alike_of_an_existing_name_is_taken(challenge, team, look_alike):
    with pytest.raises(ApplicationError, match="already exists in this challenge; choose another name"):
        team_create(challenge=challenge, user=UserFactory(), name=look_alike)


@pytest.mark.parametrize("hostile", ["\u202eahplA", "Al\u200bpha", "Alpha\x07"])
def test_bidi_override_invisible_and_control_characters_are_refused(challenge, hostile):
    with pytest.raises(ApplicationError, match="control, bidirectional or invisible"):
        team_create(challenge=challenge, user=UserFactory(), name=hostile)
    assert not Team.objects.filter(name__contains="hpl").exists()


@pytest.mark.parametrize("racer", ["Alpha", "ALPHA"])
def test_a_lost_creation_race_is_the_name_taken_sentence_not_a_server_error(
    challenge, team, racer, monkeypatch
):
    """The other creation committed between our check and our insert: the constraint decides."""
    monkeypatch.setattr(team_services, "_name_taken", lambda **_: False)
    with pytest.raises(ApplicationError, match="already exists in this challenge"):
        team_create(challenge=challenge, user=UserFactory(), name=racer)
    assert Team.objects.filter(challenge=challenge, name_key="alpha").count() == 1


def test_the_same_name_in_another_challenge_is_free(team):
    from tests.factories import ChallengeFactory

    other = team_create(challenge=ChallengeFactory(), user=UserFactory(), name="ALPHA")
    assert other.name == "ALPHA"
