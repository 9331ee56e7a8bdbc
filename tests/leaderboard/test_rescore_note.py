"""A re-score as the team sees it: "being re-scored since <time>: <reason>", and no second failure mail."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from challenge.models import Submission
from challenge.notifications import submission_notify_final
from leaderboard.services import phase_rescore_with_snapshot
from tests.factories import ResultFactory, SubmissionFactory

pytestmark = pytest.mark.django_db


def test_a_rescored_submission_says_since_when_and_why(participant, team, phase, organiser):
    submission = SubmissionFactory(team=team, phase=phase)
    ResultFactory(submission=submission, primary_score=12.0)
    member = Client()
    member.force_login(participant)
    assert "Being re-scored" not in member.get(f"/submissions/{submission.id}/").content.decode()
    phase_rescore_with_snapshot(phase=phase, reason="fixed the MSVD ground truth", user=organiser)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.QUEUED
    body = member.get(f"/submissions/{submission.id}/").content.decode()
    assert "Being re-scored since" in body and "fixed the MSVD ground truth" in body
    # My submissions says it beside the status, not a bare "Queued"
    listed = member.get(f"/c/{phase.challenge.slug}/submissions/").content.decode()
    assert 'data-role="rescoring">re-scoring since' in listed and "fixed the MSVD ground truth" in listed


def test_a_failed_submission_gets_one_failure_mail_not_one_per_rescore(participant, team, phase, organiser):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=participant, email=participant.email, verified=True, primary=True)
    submission = SubmissionFactory(
        team=team, phase=phase, status=Submission.Status.FAILED, error_message="NaN"
    )
    assert submission_notify_final(submission_id=submission.id) == 1
    phase_rescore_with_snapshot(phase=phase, reason="new scorer", user=organiser)
    Submission.objects.filter(id=submission.id).update(status=Submission.Status.FAILED)
    assert submission_notify_final(submission_id=submission.id) == 0
    assert len(mail.outbox) == 1
