"""`pentathlon team` against a live server: show your team, create one, join one with its code; with no
team it exits 4 naming the team page."""

from __future__ import annotations

import json

import pytest

from challenge.models import TeamMembership
from challenge.services import user_create
from cli.errors import EXIT_AUTH, EXIT_NO_TEAM

pytestmark = pytest.mark.django_db(transaction=True)


def test_team_shows_the_members_and_invite_code(run_cli, logged_in, team):
    result = run_cli("team", "video-pentathlon")
    assert result.code == 0, result.err
    assert "Team Alpha in video-pentathlon." in result.out
    assert f"invite code: {team.invite_code}" in result.out and "alice (owner)" in result.out
    data = json.loads(run_cli("team", "video-pentathlon", "--json").out)
    assert data["name"] == "Alpha" and data["members"] == [{"username": "alice", "role": "owner"}]


def test_a_newcomer_creates_a_team_and_another_joins_it(run_cli, server_url, team, password):
    for name in ("carol", "dave"):
        user_create(username=name, password=password, email=f"{name}@example.org")
    assert run_cli("login", "--server", server_url, "-u", "carol", "-p", password).code == 0
    alone = run_cli("team", "video-pentathlon")
    assert alone.code == EXIT_NO_TEAM and f"{server_url}/c/video-pentathlon/team/" in alone.err
    created = run_cli("team", "video-pentathlon", "--create", "Gamma")
    assert created.code == 0, created.err
    assert "Created team Gamma in video-pentathlon." in created.out
    code = TeamMembership.objects.get(user__username="carol").team.invite_code
    assert f"--join {code}" in created.out
    taken = run_cli("team", "video-pentathlon", "--create", "Another")
    assert taken.code != 0 and "already" in taken.err

    assert run_cli("login", "--server", server_url, "-u", "dave", "-p", password).code == 0
    wrong = run_cli("team", "video-pentathlon", "--join", "nope")
    assert wrong.code != 0 and "invite code" in wrong.err.lower()
    joined = run_cli("team", "video-pentathlon", "--join", code)
    assert joined.code == 0, joined.err
    assert "Joined team Gamma" in joined.out and "carol (owner), dave (member)" in joined.out


def test_team_needs_a_login(run_cli, server_url, challenge):
    result = run_cli("team", "video-pentathlon", "--server", server_url)
    assert result.code == EXIT_AUTH and "pentathlon login" in result.err
