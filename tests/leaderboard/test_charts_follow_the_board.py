"""Every chart beside a board draws only what that board counts: its points are recomputed here from
the board's own JSON, under each counting rule and visibility."""

from __future__ import annotations

import pytest
from django.test import Client

from challenge.models import Phase
from tests.factories import ChallengeFactory, DatasetFactory, OrganiserFactory, PhaseFactory, TeamFactory
from tests.leaderboard.test_boards import DATASETS, entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    challenge = ChallengeFactory(slug="vp")
    for i, name in enumerate(DATASETS):
        DatasetFactory(challenge=challenge, name=name, order=i)
    phase = PhaseFactory(challenge=challenge, slug="val")
    return phase, [TeamFactory(challenge=challenge, name=n) for n in ("A", "B", "C")]


RULES = [Phase.FinalSubmission.BEST, Phase.FinalSubmission.SELECTED, Phase.FinalSubmission.LAST]


def _submissions(phase, teams):
    """A's chosen final (13.76) is neither its best (14.08) nor its last (12.00)."""
    a, b, c = teams
    return {
        "a_final": entry(a, phase, 13.76, 13.76, minutes_ago=50, is_final=True).submission_id,
        "a_best": entry(a, phase, 14.08, 14.08, minutes_ago=40).submission_id,
        "b_first": entry(b, phase, 11.0, 30.0, minutes_ago=45, overall=11.0).submission_id,
        "b_last": entry(b, phase, 13.0, 5.0, minutes_ago=35, overall=13.0).submission_id,
        "a_last": entry(a, phase, 12.0, 12.0, minutes_ago=30).submission_id,
        "c_only": entry(c, phase, 9.0, 9.0, minutes_ago=20).submission_id,
    }


def _board(client: Client, phase: Phase, dataset: str | None = None) -> list[dict]:
    query = f"&dataset={dataset}" if dataset else ""
    return client.get(f"/api/v1/phases/{phase.id}/leaderboard/?limit=500{query}").json()["entries"]


def _history(client: Client, phase: Phase, dataset: str | None = None) -> list[dict]:
    query = f"?dataset={dataset}" if dataset else ""
    response = client.get(f"/api/v1/phases/{phase.id}/leaderboard/history/{query}")
    assert response.status_code == 200
    return response.json()["points"]


def _expected_history(board: list[dict], dataset: str | None) -> list[tuple[int, float]]:
    """The running best of the board's ranked entries, in the order they were submitted."""
    ranked = sorted((e for e in board if e["rank"]), key=lambda e: (e["submitted_at"], e["submission_id"]))
    points, best = [], None
    for e in ranked:
        score = e["scores"][dataset] if dataset else e["primary_score"]
        if best is None or score > best:
            best = score
            points.append((e["submission_id"], score))
    return points


def _check_charts_match_board(client: Client, phase: Phase, dataset: str | None) -> list[dict]:
    board = _board(client, phase, dataset)
    points = _history(client, phase, dataset)
    assert [(p["submission_id"], p["score"]) for p in points] == _expected_history(board, dataset)
    if board:
        first = next(e for e in board if e["rank"] == 1)
        assert points[-1]["score"] == (first["scores"][dataset] if dataset else first["primary_score"])
    # The second chart (top entries per dataset) reads the same board's first rows.
    query = f"&dataset={dataset}" if dataset else ""
    top = client.get(f"/api/v1/phases/{phase.id}/leaderboard/?limit=5{query}").json()["entries"]
    assert [e["submission_id"] for e in top] == [e["submission_id"] for e in board[:5]]
    return board


@pytest.mark.parametrize("rule", RULES)
def test_the_history_chart_plots_only_the_scores_the_board_counts(setup, rule):
    phase, teams = setup
    Phase.objects.filter(id=phase.id).update(final_submission=rule)
    phase.refresh_from_db()
    ids = _submissions(phase, teams)
    client = Client()
    for dataset in (None, "MSVD"):
        _check_charts_match_board(client, phase, dataset)
    board = _board(client, phase)
    counted = {e["submission_id"] for e in board}
    expected = {
        Phase.FinalSubmission.BEST: {ids["a_best"], ids["b_last"], ids["c_only"]},
        Phase.FinalSubmission.SELECTED: {ids["a_final"], ids["b_last"], ids["c_only"]},
        Phase.FinalSubmission.LAST: {ids["a_last"], ids["b_last"], ids["c_only"]},
    }[rule]
    assert counted == expected
    history = _history(client, phase)
    if rule != Phase.FinalSubmission.BEST:  # the score the team did not choose stays private
        assert 14.08 not in [p["score"] for p in history]
        assert client.get(f"/c/vp/val/entries/{ids['a_best']}/").status_code == 404
        assert client.get(f"/api/v1/entries/{ids['a_best']}/charts/").status_code == 404
    for submission_id in counted:
        assert client.get(f"/c/vp/val/entries/{submission_id}/").status_code == 200


@pytest.mark.parametrize(
    "visibility", [Phase.LeaderboardVisibility.OWNERS, Phase.LeaderboardVisibility.HIDDEN]
)
@pytest.mark.parametrize("rule", RULES)
def test_an_unpublished_board_has_no_public_chart_and_the_organisers_chart_matches_it(
    setup, rule, visibility
):
    phase, teams = setup
    Phase.objects.filter(id=phase.id).update(final_submission=rule, leaderboard_visibility=visibility)
    phase.refresh_from_db()
    ids = _submissions(phase, teams)
    anonymous = Client()
    assert _board(anonymous, phase) == [] and _history(anonymous, phase) == []
    assert _history(anonymous, phase, "MSVD") == []
    assert anonymous.get(f"/c/vp/val/entries/{ids['c_only']}/").status_code == 404
    organiser = Client()
    organiser.force_login(OrganiserFactory(organises=[phase.challenge]))
    for dataset in (None, "MSVD"):
        assert _check_charts_match_board(organiser, phase, dataset)


def test_an_unknown_dataset_history_is_refused_with_the_phase_datasets(setup):
    phase, _ = setup
    response = Client().get(f"/api/v1/phases/{phase.id}/leaderboard/history/?dataset=nope")
    assert response.status_code == 400 and "MSRVTT, MSVD" in response.json()["detail"]
