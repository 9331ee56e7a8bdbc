"""A board shows its challenge's metric set: columns in the set's order, sorted in SQL on the values a
metric without a column keeps (`DatasetResult.values`), in the page, the CSV and the JSON alike; the
scorer is asked for the set (`leaderboard.services.evaluate._requested_metrics`)."""

from __future__ import annotations

import pytest
from django.test import Client

from leaderboard.selectors import board_resolve, leaderboard_rows
from leaderboard.services.evaluate import _requested_metrics
from tests.factories import ResultFactory, SubmissionFactory, TeamFactory

pytestmark = pytest.mark.django_db


def _entry(phase, team: str, map10: float, map16: float) -> None:
    submission = SubmissionFactory(team=TeamFactory(challenge=phase.challenge, name=team), phase=phase)
    t2v = {"R1": 10.0, "mAP@10": map10, "mAP@16": map16}
    ResultFactory(
        submission=submission,
        primary_score=map10,
        metrics={"MSRVTT": {"score": map10, "t2v": t2v, "v2t": None}},
    )


@pytest.fixture
def map_phase(phase):
    challenge = phase.challenge
    challenge.metrics, challenge.primary_metric = ["mAP@10", "mAP@16", "R1"], "mAP@10"
    challenge.save()
    _entry(phase, "Alpha", 40.0, 10.0)
    _entry(phase, "Beta", 30.0, 20.0)
    return phase


def test_a_dataset_board_has_the_sets_columns_and_sorts_on_a_declared_cut_off(map_phase):
    board = board_resolve(phase=map_phase, dataset="MSRVTT")
    assert board.metrics == ("score", "mAP@10", "mAP@16", "R1")
    rows = leaderboard_rows(board=board)
    assert [r["team"] for r in rows] == ["Alpha", "Beta"]
    assert rows[0]["metrics"]["MSRVTT"]["mAP@16"] == 10.0
    by_cut_off = leaderboard_rows(
        board=board_resolve(phase=map_phase, dataset="MSRVTT", sort="MSRVTT:mAP@16")
    )
    assert [r["team"] for r in by_cut_off] == ["Beta", "Alpha"]
    assert [r["rank"] for r in by_cut_off] == [2, 1]  # the rank stays the primary metric's
    with pytest.raises(ValueError, match="MedR"):  # not in the set: refused, naming the columns
        board_resolve(phase=map_phase, dataset="MSRVTT", sort="MSRVTT:MedR")


def test_the_csv_and_the_json_show_the_set(map_phase):
    url = f"/c/{map_phase.challenge.slug}/{map_phase.slug}/leaderboard.csv"
    header = Client().get(url).getvalue().decode().splitlines()[0]
    assert "MSRVTT:mAP@16" in header and "MSRVTT:MedR" not in header
    data = Client().get(f"/api/v1/phases/{map_phase.id}/leaderboard/").json()
    assert data["board_metrics"] == ["score", "mAP@10", "mAP@16", "R1"]
    assert "mAP@16" in [m["key"] for m in data["metrics"]]
    assert data["words"]["t2v"] == "text→video"
    assert data["entries"][0]["metrics"]["MSRVTT"]["mAP@16"] == 10.0


def test_the_scorer_is_asked_for_the_set_beyond_the_rank_metrics(map_phase):
    assert _requested_metrics(map_phase) == ["mAP@10", "mAP@16"]
    map_phase.challenge.metrics, map_phase.challenge.primary_metric = [], "R5"
    assert _requested_metrics(map_phase) is None  # the scorer's defaults: one-positive reports unchanged
