"""My submissions: score where the phase shows it, filter, download of one's own file, cancel; the
result page's rank and link to the board."""

from __future__ import annotations

import pytest
from django.test import Client

from challenge.models import Phase, Submission
from tests.factories import MembershipFactory, PhaseFactory, ResultFactory, SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(participant):
    client = Client()
    client.force_login(participant)
    return client


def test_scores_show_only_where_the_phase_shows_them_and_the_filter_narrows(member, team, phase, challenge):
    hidden = PhaseFactory(
        challenge=challenge, slug="test", leaderboard_visibility=Phase.LeaderboardVisibility.HIDDEN
    )
    shown = ResultFactory(submission=SubmissionFactory(team=team, phase=phase), primary_score=31.25)
    ResultFactory(submission=SubmissionFactory(team=team, phase=hidden), primary_score=99.5)
    queued = SubmissionFactory(team=team, phase=phase, status=Submission.Status.QUEUED)
    body = member.get("/c/video-pentathlon/submissions/").content.decode()
    assert "31.25" in body and "99.50" not in body and "hidden" in body
    only = member.get("/c/video-pentathlon/submissions/?phase=val&status=queued").content.decode()
    assert f'data-submission="{queued.id}"' in only
    assert f'data-submission="{shown.submission_id}"' not in only
    bad = member.get("/c/video-pentathlon/submissions/?status=exploded")
    assert bad.status_code == 400 and "exploded is not one of the available choices" in bad.content.decode()


def test_a_member_downloads_the_team_file_and_nobody_else_does(member, team, phase):
    submission = SubmissionFactory(team=team, phase=phase, original_filename="mine.zip")
    response = member.get(f"/submissions/{submission.id}/file/")
    assert response.status_code == 200 and 'filename="mine.zip"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"PK\x05\x06")
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(f"/submissions/{submission.id}/file/").status_code == 404
    Submission.objects.filter(id=submission.id).update(file="")
    assert member.get(f"/submissions/{submission.id}/file/").status_code == 404


def test_a_member_cancels_a_waiting_submission_and_a_finished_one_is_refused(member, team, phase):
    waiting = SubmissionFactory(team=team, phase=phase, status=Submission.Status.QUEUED)
    done = SubmissionFactory(team=team, phase=phase)
    response = member.post(f"/submissions/{waiting.id}/cancel/", follow=True)
    assert f"Submission #{waiting.id} is cancelled" in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == Submission.Status.CANCELLED
    response = member.post(f"/submissions/{done.id}/cancel/", follow=True)
    done.refresh_from_db()
    assert done.status == Submission.Status.FINISHED and "msg-error" in response.content.decode()
    other = Client()
    other.force_login(MembershipFactory(team__challenge=team.challenge).user)
    assert other.post(f"/submissions/{done.id}/cancel/").status_code == 404


def test_the_result_page_gives_the_rank_and_the_board_only_when_the_board_is_public(member, team, phase):
    submission = SubmissionFactory(team=team, phase=phase)
    ResultFactory(submission=submission, primary_score=12.5)
    ResultFactory(
        submission=SubmissionFactory(phase=phase, team__challenge=team.challenge), primary_score=20.0
    )
    body = member.get(f"/submissions/{submission.id}/").content.decode()
    assert 'data-role="rank">2</strong> of 2' in body and "/c/video-pentathlon/val/leaderboard/" in body
    Phase.objects.filter(id=phase.id).update(leaderboard_visibility=Phase.LeaderboardVisibility.OWNERS)
    body = member.get(f"/submissions/{submission.id}/").content.decode()
    assert 'data-role="rank"' not in body and "the leaderboard is not public yet" in body and "12.50" in body
