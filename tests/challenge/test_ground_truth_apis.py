"""Organisers upload ground truth by API or command; the response carries the leak audit."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.factories import PhaseFactory

pytestmark = pytest.mark.django_db


def test_organiser_uploads_ground_truth_by_api_and_reads_the_audit(
    api_client, organiser, challenge, tiny_truth_path
):
    phase = PhaseFactory(challenge=challenge, slug="test")
    api_client.force_authenticate(organiser)
    with open(tiny_truth_path, "rb") as handle:
        response = api_client.post(
            f"/api/v1/phases/{phase.id}/ground-truth/", {"file": handle}, format="multipart"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["query_order"] == "blind" and body["warning"] is None
    assert {d["name"] for d in body["datasets"]} == {"MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"}
    assert body["audit"]["MSRVTT"]["order_follows_videos"] and body["findings"]
    switched = api_client.put(f"/api/v1/phases/{phase.id}/query-order/", {"query_order": "as_uploaded"})
    assert switched.status_code == 200 and "publishes its queries as uploaded" in switched.json()["warning"]
    refused = api_client.put(f"/api/v1/phases/{phase.id}/query-order/", {"query_order": "sorted"})
    assert refused.status_code == 400


def test_participants_cannot_see_or_replace_ground_truth(api_client, participant, phase, tiny_truth_path):
    api_client.force_authenticate(participant)
    assert api_client.get(f"/api/v1/phases/{phase.id}/ground-truth/").status_code == 404
    with open(tiny_truth_path, "rb") as handle:
        response = api_client.post(
            f"/api/v1/phases/{phase.id}/ground-truth/", {"file": handle}, format="multipart"
        )
    assert response.status_code == 404
    assert (
        api_client.put(f"/api/v1/phases/{phase.id}/query-order/", {"query_order": "as_uploaded"}).status_code
        == 404
    )


def test_invalid_ground_truth_by_api_is_a_400_with_the_evaluation_message(api_client, organiser, phase):
    api_client.force_authenticate(organiser)
    response = api_client.post(
        f"/api/v1/phases/{phase.id}/ground-truth/",
        {"file": io.BytesIO(b"not hdf5")},
        format="multipart",
    )
    assert response.status_code == 400
    assert "Invalid ground-truth file" in response.json()["detail"]


def test_phase_ground_truth_command_stores_and_reports(challenge, tiny_truth_path):
    phase = PhaseFactory(challenge=challenge, slug="final")
    out = io.StringIO()
    call_command(
        "phase_ground_truth",
        f"{challenge.slug}/final",
        str(tiny_truth_path),
        "--query-order",
        "as_uploaded",
        stdout=out,
    )
    text = out.getvalue()
    phase.refresh_from_db()
    assert phase.ground_truth and phase.query_order == "as_uploaded"
    assert "leak audit: MSRVTT:" in text and "publishes its queries as uploaded" in text
    with pytest.raises(CommandError, match="no phase"):
        call_command("phase_ground_truth", "nope/final", str(tiny_truth_path))
