"""The limits of SECURITY.md's "Recovery and the remaining limits", through the API and the web forms:
the upload throttle on the chunked upload road and the web form, team creation per client address,
notifications per team."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from challenge.models import ChunkedUpload, Team
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    def set_rates(**values: str) -> None:
        monkeypatch.setattr(
            SimpleRateThrottle,
            "THROTTLE_RATES",
            {"anon": None, "user": None, "upload": None, "login": None, "team_create": None, **values},
        )

    return set_rates


def test_the_chunked_upload_api_is_counted_against_the_upload_throttle(rates, participant, phase, settings):
    rates(upload="3/hour")
    settings.PENTATHLON_UPLOAD_MAX_OPEN = 100
    client = APIClient()
    client.force_authenticate(participant)
    body = {"phase": phase.id, "filename": "a.npz", "size": 1000, "method_name": "m"}
    codes = [client.post("/api/v1/uploads/", body, format="json").status_code for _ in range(3)]
    assert ChunkedUpload.objects.count() == 3  # (a refusal marks the test's transaction for rollback)
    codes += [client.post("/api/v1/uploads/", body, format="json").status_code for _ in range(2)]
    assert codes == [201, 201, 201, 429, 429]


def test_the_web_upload_form_is_counted_against_the_upload_throttle(
    rates, participant, phase, client, make_submission_file
):
    rates(upload="1/hour")
    client.force_login(participant)
    url = f"/c/{phase.challenge.slug}/{phase.slug}/submit/"
    path = make_submission_file("npz")
    codes = []
    for i in range(2):
        with open(path, "rb") as handle:
            codes.append(client.post(url, {"method_name": f"web {i}", "file": handle}))
    assert codes[0].status_code == 302, codes[0].content[:500]
    assert codes[1].status_code == 400 and b"Too many requests" in codes[1].content


def test_team_creation_is_throttled_per_client_address_across_accounts(rates, challenge, client):
    rates(team_create="2/hour")
    url = f"/c/{challenge.slug}/team/"
    made = []
    for i in range(4):
        client.force_login(UserFactory(username=f"sock{i}"))
        response = client.post(url, {"action": "create", "name": f"Sock {i}"}, REMOTE_ADDR="203.0.113.7")
        made.append(response.status_code)
    assert made == [302, 302, 400, 400]
    assert Team.objects.filter(name__startswith="Sock").count() == 2
    client.force_login(UserFactory(username="elsewhere"))
    other = client.post(url, {"action": "create", "name": "Elsewhere"}, REMOTE_ADDR="198.51.100.9")
    assert other.status_code == 302


def test_notifications_are_rate_limited_per_team(queued, participant, settings, mailoutbox):
    from allauth.account.models import EmailAddress

    from challenge.notifications import submission_notify_final
    from challenge.services import submission_mark_failed

    # Mail goes only to a verified address: the limit is what holds the rest back.
    EmailAddress.objects.update_or_create(
        user=participant, email=participant.email, defaults={"primary": True, "verified": True}
    )

    settings.PENTATHLON_NOTIFY_MAX_PER_TEAM_HOUR = 2
    rows = [queued() for _ in range(4)]
    for row in rows:
        submission_mark_failed(submission_id=row.id, message="bad")
    sent = [submission_notify_final(submission_id=row.id) for row in rows]
    assert sent == [1, 1, 0, 0] and len(mailoutbox) == 2
