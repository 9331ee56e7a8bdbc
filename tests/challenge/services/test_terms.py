"""Rules participants accept: recorded with the time and version, asked again for a new version, and
required before the starter kit and a submission (API and pages) with a sentence saying where."""

from __future__ import annotations

import pytest
from django.core.files import File
from django.test import Client

from challenge.models import Submission, TermsAcceptance
from challenge.services import submission_create
from challenge.services.terms import terms_accept
from core.exceptions import PermissionDeniedError

pytestmark = pytest.mark.django_db


@pytest.fixture
def ruled(challenge):
    challenge.rules = "1. No training on the test videos."
    challenge.terms_version = 1
    challenge.save()
    return challenge


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_kit_waits_for_the_rules_and_a_new_version_asks_again(ruled, phase, participant):
    client = _client(participant)
    kit = f"/api/v1/phases/{phase.id}/kit/"
    refused = client.get(kit)
    assert refused.status_code == 403
    assert "Accept the rules of Video Pentathlon (version 1)" in refused.json()["detail"]
    assert "/c/video-pentathlon/#rules" in refused.json()["detail"]
    page = client.get("/c/video-pentathlon/").content.decode()
    assert 'data-action="accept-terms"' in page and 'data-role="kit"' not in page

    response = client.post("/c/video-pentathlon/rules/accept/", follow=True)
    assert "You accepted the rules of Video Pentathlon (version 1)" in response.content.decode()
    acceptance = TermsAcceptance.objects.get(user=participant)
    assert acceptance.version == 1 and acceptance.accepted_at is not None
    assert client.get(kit).status_code == 200
    assert 'data-role="kit"' in client.get("/c/video-pentathlon/").content.decode()

    ruled.terms_version = 2
    ruled.save()
    assert client.get(kit).status_code == 403
    page = client.get("/c/video-pentathlon/").content.decode()
    assert "The rules changed since you accepted version 1" in page
    client.post("/c/video-pentathlon/rules/accept/")
    assert sorted(TermsAcceptance.objects.values_list("version", flat=True)) == [1, 2]
    assert client.get(kit).status_code == 200


def test_the_kit_readme_waits_for_the_rules_like_the_kit(ruled, phase, participant, organiser):
    readme = "/c/video-pentathlon/val/kit/README.txt"
    client = _client(participant)
    refused = client.get(readme)
    assert refused.status_code == 403
    assert "before reading the starter kit" in refused.content.decode()
    assert Client().get(readme).status_code == 403
    assert _client(organiser).get(readme).status_code == 200
    client.post("/c/video-pentathlon/rules/accept/")
    accepted = client.get(readme)
    assert accepted.status_code == 200 and accepted["Content-Type"].startswith("text/plain")


def test_a_visitor_is_told_to_log_in_and_organisers_pass(ruled, phase, organiser):
    refused = Client().get(f"/api/v1/phases/{phase.id}/kit/")
    assert refused.status_code == 403 and refused.json()["detail"].startswith("Log in and accept the rules")
    assert _client(organiser).get(f"/api/v1/phases/{phase.id}/kit/").status_code == 200


def test_a_submission_waits_for_the_rules(ruled, phase, participant, make_submission_file):
    path = make_submission_file()
    with open(path, "rb") as handle, pytest.raises(PermissionDeniedError, match="before submitting"):
        submission_create(user=participant, phase=phase, file=File(handle, name="s.npz"), method_name="m")
    assert not Submission.objects.exists()
    client = _client(participant)
    page = client.get("/c/video-pentathlon/val/submit/").content.decode()
    assert 'data-role="terms-needed"' in page
    with open(path, "rb") as handle:
        response = client.post("/c/video-pentathlon/val/submit/", {"file": handle, "method_name": "m"})
    assert "Accept the rules of Video Pentathlon (version 1) before submitting" in response.content.decode()
    assert not Submission.objects.exists()
    terms_accept(challenge=ruled, user=participant)
    with open(path, "rb") as handle:
        submission_create(user=participant, phase=phase, file=File(handle, name="s.npz"), method_name="m")
    assert Submission.objects.count() == 1


def test_a_challenge_without_terms_asks_nothing(challenge, phase, participant):
    assert _client(participant).get(f"/api/v1/phases/{phase.id}/kit/").status_code == 200
    assert 'data-role="terms"' not in _client(participant).get("/c/video-pentathlon/").content.decode()


def test_accepting_the_rules_of_a_challenge_that_asks_none_says_so(challenge, participant):
    response = _client(participant).post("/c/video-pentathlon/rules/accept/", follow=True)
    assert response.status_code == 200
    assert "asks no acceptance of its rules" in response.content.decode()
    assert not TermsAcceptance.objects.exists()
