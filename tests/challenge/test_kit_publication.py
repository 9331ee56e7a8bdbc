"""A phase's starter kit names its queries: before the phase opens only its organisers get it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from challenge.selectors import phase_kit_published
from tests.html import local_time

pytestmark = pytest.mark.django_db

KIT_URLS = ("/api/v1/phases/{id}/kit/", "/c/video-pentathlon/val/kit/README.txt")


@pytest.fixture
def future_phase(phase):
    phase.starts_at = timezone.now() + timedelta(days=7)
    phase.ends_at = timezone.now() + timedelta(days=30)
    phase.save()
    return phase


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("url", KIT_URLS)
def test_the_kit_of_a_phase_that_has_not_opened_is_404_to_anonymous_visitors_and_participants(
    future_phase, participant, team, url
):
    for client in (_client(), _client(participant)):
        response = client.get(url.format(id=future_phase.id))
        assert response.status_code == 404
        assert b"published when the phase opens" in response.content
        assert b"queries.tsv" not in response.content and b"query_id" not in response.content


@pytest.mark.parametrize("url", KIT_URLS)
def test_organisers_get_the_kit_before_the_phase_opens(future_phase, organiser, url):
    assert _client(organiser).get(url.format(id=future_phase.id)).status_code == 200


@pytest.mark.parametrize("url", KIT_URLS)
def test_the_kit_is_public_from_the_moment_the_phase_opens(future_phase, url):
    future_phase.starts_at = timezone.now() - timedelta(seconds=1)
    future_phase.save()
    assert _client().get(url.format(id=future_phase.id)).status_code == 200


def test_the_phase_card_says_when_the_kit_appears_instead_of_linking_it(future_phase, participant, organiser):
    page = _client(participant).get("/c/video-pentathlon/").content.decode()
    assert f"/api/v1/phases/{future_phase.id}/kit/" not in page
    assert f"The starter kit appears when the phase opens, {local_time(future_phase.starts_at)}." in page
    organiser_page = _client(organiser).get("/c/video-pentathlon/").content.decode()
    assert f"/api/v1/phases/{future_phase.id}/kit/" in organiser_page
    assert "organisers only until the phase opens" in organiser_page


def test_publication_follows_the_opening_time(phase):
    assert phase_kit_published(phase=phase, now=phase.starts_at)
    assert not phase_kit_published(phase=phase, now=phase.starts_at - timedelta(microseconds=1))
