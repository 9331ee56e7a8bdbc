"""Numeric query parameters of the public leaderboard API (SECURITY.md, finding 9): 400 with the allowed
range, never a 500. The PostgreSQL side runs against a real server in
tests/security/test_abuse_postgres.py."""

from __future__ import annotations

import pytest
from django.test import Client

from leaderboard.apis import MAX_BOARD_LIMIT, MAX_BOARD_OFFSET
from tests.leaderboard.test_boards import entry, setup  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

HOSTILE = ["9223372036854775808", "-1", "abc", "1e3", "1.5", "0x10", "99999999999999999999999999999999999"]


@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_numeric_parameters_are_a_400_naming_the_range(setup, name, value):  # noqa: F811
    phase, (a, _, _) = setup
    entry(a, phase, 40.0, 20.0)
    response = Client(raise_request_exception=False).get(
        f"/api/v1/phases/{phase.id}/leaderboard/", {name: value}
    )
    maximum = MAX_BOARD_LIMIT if name == "limit" else MAX_BOARD_OFFSET
    minimum = 1 if name == "limit" else 0
    assert response.status_code == 400, (name, value, response.status_code)
    assert response.json()["detail"] == (
        f"The query parameter '{name}' must be a whole number from {minimum:,} to {maximum:,};"
        f" got {value[:40] + '...' if len(value) > 40 else value!r}."
    )


def test_limit_and_offset_page_through_the_board_with_the_board_ranks(setup):  # noqa: F811
    phase, (a, b, c) = setup
    entry(a, phase, 40.0, 20.0)
    entry(b, phase, 10.0, 60.0)
    entry(c, phase, 5.0, 5.0)
    url = f"/api/v1/phases/{phase.id}/leaderboard/"
    page = Client().get(url, {"limit": "1", "offset": "1"}).json()["entries"]
    assert [(e["rank"], e["team"]) for e in page] == [(2, "A")]
    assert [e["team"] for e in Client().get(url, {"offset": "2"}).json()["entries"]] == ["C"]
    assert len(Client().get(url, {"limit": str(MAX_BOARD_LIMIT)}).json()["entries"]) == 3
    assert Client().get(url, {"limit": ""}).status_code == 200
