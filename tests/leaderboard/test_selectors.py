from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from challenge.models import Submission
from leaderboard.selectors import leaderboard_entries, leaderboard_rows
from tests.factories import PhaseFactory, ResultFactory, SubmissionFactory, TeamFactory

pytestmark = pytest.mark.django_db


def _result(team, phase, score, *, minutes_ago=0, **submission_fields):
    submission = SubmissionFactory(team=team, phase=phase, **submission_fields)
    Submission.objects.filter(id=submission.id).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return ResultFactory(submission=submission, primary_score=score)


@pytest.fixture
def board():
    phase = PhaseFactory()
    return (
        phase,
        TeamFactory(challenge=phase.challenge, name="A"),
        TeamFactory(challenge=phase.challenge, name="B"),
    )


def test_one_row_per_team_with_its_best_score_in_descending_order(board):
    phase, a, b = board
    _result(a, phase, 10.0)
    best_a = _result(a, phase, 30.0)
    best_b = _result(b, phase, 20.0)
    _result(b, phase, 5.0)
    entries = list(leaderboard_entries(phase=phase))
    assert [e.id for e in entries] == [best_a.id, best_b.id]


def test_ties_go_to_the_earlier_submission(board):
    phase, a, b = board
    later_a = _result(a, phase, 25.0, minutes_ago=1)
    earlier_a = _result(a, phase, 25.0, minutes_ago=10)
    b_first = _result(b, phase, 25.0, minutes_ago=30)
    entries = list(leaderboard_entries(phase=phase))
    assert [e.id for e in entries] == [b_first.id, earlier_a.id]
    assert later_a.id not in [e.id for e in entries]


def test_private_unfinished_and_incomplete_results_are_left_out(board):
    phase, a, b = board
    shown = _result(a, phase, 1.0)
    _result(a, phase, 90.0, is_public=False)
    _result(a, phase, 80.0, status=Submission.Status.RUNNING)
    _result(b, phase, None)
    assert [e.id for e in leaderboard_entries(phase=phase)] == [shown.id]


def test_other_phases_do_not_leak_in(board):
    phase, a, _ = board
    _result(a, PhaseFactory(challenge=phase.challenge), 99.0)
    assert list(leaderboard_entries(phase=phase)) == []


def test_rows_carry_rank_baseline_flag_and_per_dataset_scores(board):
    phase, a, b = board
    _result(a, phase, 40.0, is_baseline=True)
    _result(b, phase, 50.0)
    rows = leaderboard_rows(phase=phase)
    assert [(r["rank"], r["team"], r["is_baseline"]) for r in rows] == [(1, "B", False), (None, "A", True)]
    assert rows[1]["primary_score"] == 40.0
