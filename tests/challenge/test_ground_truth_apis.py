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


def _annotations(truth, *, dataset: str = "MSVD") -> bytes:
    """A public caption -> video table holding every caption of one dataset with its video."""
    d = truth.datasets[dataset]
    rows = [
        f"{dataset}\t{d.videos[v]}\t{t}" for t, v in zip(d.query_text, d.query_video.tolist(), strict=True)
    ]
    return ("dataset\tvideo_id\tcaption\n" + "\n".join(rows) + "\n").encode()


def test_ground_truth_with_public_annotations_gets_the_caption_audit_and_the_text_can_be_withheld(
    api_client, organiser, challenge, tiny_truth, tiny_truth_path
):
    phase = PhaseFactory(challenge=challenge, slug="test")
    api_client.force_authenticate(organiser)
    with open(tiny_truth_path, "rb") as handle:
        response = api_client.post(
            f"/api/v1/phases/{phase.id}/ground-truth/",
            {"file": handle, "annotations": io.BytesIO(_annotations(tiny_truth))},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    msvd, queries = body["caption_audit"]["MSVD"], tiny_truth.datasets["MSVD"].num_queries
    assert msvd["annotated"] and msvd["found"] == msvd["with_text"] == queries
    assert 0 < msvd["unique_correct"] == msvd["unique"] <= queries
    assert body["caption_audit"]["MSRVTT"]["found"] == 0  # rows name MSVD only
    assert body["publish_query_text"] and "look these captions up" in body["caption_warning"]
    assert any(f.startswith("MSVD: ") for f in body["caption_findings"])
    withheld = api_client.put(f"/api/v1/phases/{phase.id}/query-text/", {"publish_query_text": False})
    assert withheld.status_code == 200 and withheld.json()["caption_warning"] is None
    phase.refresh_from_db()
    assert not phase.publish_query_text
    assert api_client.put(f"/api/v1/phases/{phase.id}/query-text/", {}).status_code == 400


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (b"video\ttext\nv\tx\n", "expected the columns caption and video_id"),
        (b"video_id\tcaption\nv\t\xff\n", "line 2 is not UTF-8 text"),
        (b'video_id,caption\nv,"open\n', "expected comma-separated columns"),
    ],
)
def test_hostile_annotations_by_api_are_a_400_and_store_nothing(
    api_client, organiser, phase, tiny_truth_path, table, expected
):
    api_client.force_authenticate(organiser)
    before = phase.ground_truth_sha256
    with open(tiny_truth_path, "rb") as handle:
        response = api_client.post(
            f"/api/v1/phases/{phase.id}/ground-truth/",
            {"file": handle, "annotations": io.BytesIO(table)},
            format="multipart",
        )
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert detail.startswith("Invalid public annotations: the public annotations: ") and expected in detail
    phase.refresh_from_db()
    assert phase.ground_truth_sha256 == before


def test_phase_ground_truth_command_audits_captions_and_withholds_text(
    challenge, tiny_truth, tiny_truth_path, tmp_path
):
    phase = PhaseFactory(challenge=challenge, slug="final")
    table = tmp_path / "annotations.tsv"
    table.write_bytes(_annotations(tiny_truth))
    out = io.StringIO()
    call_command(
        "phase_ground_truth",
        f"{challenge.slug}/final",
        str(tiny_truth_path),
        "--annotations",
        str(table),
        stdout=out,
    )
    assert "caption audit: MSVD:" in out.getvalue() and "look these captions up" in out.getvalue()
    out = io.StringIO()
    call_command(
        "phase_ground_truth",
        f"{challenge.slug}/final",
        str(tiny_truth_path),
        "--query-text",
        "withhold",
        stdout=out,
    )
    phase.refresh_from_db()
    assert not phase.publish_query_text and "look these captions up" not in out.getvalue()
