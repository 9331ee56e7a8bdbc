"""What a participant sees of a phase: its state, deadline, quota left and kit; no form when it is closed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from challenge.models import Submission
from challenge.selectors import phase_status
from tests.factories import PhaseFactory, SubmissionFactory
from tests.html import local_time

pytestmark = pytest.mark.django_db


def test_states_follow_the_dates_and_the_ground_truth(phase, challenge):
    now = timezone.now()
    assert phase_status(phase=phase, now=now).state == "open"
    assert phase_status(phase=phase, now=phase.starts_at - timedelta(seconds=1)).state == "upcoming"
    phase.ends_at = now + timedelta(days=2)
    assert phase_status(phase=phase, now=now).deadline == phase.ends_at
    assert phase_status(phase=phase, now=phase.ends_at).state == "closed"
    assert phase_status(phase=PhaseFactory(challenge=challenge), now=now).state == "not_ready"


def test_submissions_left_count_like_the_quota(phase, team):
    phase.max_submissions_per_day, phase.max_submissions_total = 3, 5
    phase.save()
    SubmissionFactory(team=team, phase=phase, status=Submission.Status.FINISHED)
    SubmissionFactory(team=team, phase=phase, status=Submission.Status.FAILED)  # free
    SubmissionFactory(team=team, phase=phase, status=Submission.Status.QUEUED, quota_refunded=True)  # free
    old = SubmissionFactory(team=team, phase=phase, status=Submission.Status.FINISHED)
    Submission.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=2))
    status = phase_status(phase=phase, team=team)
    assert (status.used_total, status.used_today, status.total_left, status.today_left) == (2, 1, 3, 2)
    assert not status.quota_exhausted


def test_the_phase_card_links_the_kit_and_says_what_is_left(phase, participant):
    phase.max_submissions_per_day = 2
    phase.ends_at = timezone.now() + timedelta(days=3)
    phase.save()
    client = Client()
    client.force_login(participant)
    page = client.get("/c/video-pentathlon/").content.decode()
    assert f'href="/api/v1/phases/{phase.id}/kit/"' in page
    assert 'href="/c/video-pentathlon/val/kit/README.txt"' in page
    assert 'data-role="phase-state">Open<' in page and "data-countdown" in page
    assert "<strong>2</strong> of 2 submissions left today" in page
    assert 'data-role="submit"' in page


def test_a_closed_phase_shows_no_submit_button_and_no_form(phase, participant):
    phase.starts_at = timezone.now() - timedelta(days=10)
    phase.ends_at = timezone.now() - timedelta(days=1)
    phase.save()
    client = Client()
    client.force_login(participant)
    card = client.get("/c/video-pentathlon/").content.decode()
    assert 'data-role="phase-state">Closed<' in card and 'data-role="submit"' not in card
    page = client.get("/c/video-pentathlon/val/submit/").content.decode()
    assert 'id="upload-form"' not in page and "it no longer accepts submissions" in page


def test_the_submit_page_states_the_shapes_and_the_kit(phase, participant):
    client = Client()
    client.force_login(participant)
    page = client.get("/c/video-pentathlon/val/submit/").content.decode()
    split = phase.splits.select_related("dataset").first()
    assert f'<th scope="row">{split.dataset.name}</th><td class="num">{split.num_queries}</td>' in page
    assert 'data-role="kit"' in page and "queries.txt" in page and 'id="upload-form"' in page


def test_the_kit_readme_is_served_as_text(phase):
    response = Client().get("/c/video-pentathlon/val/kit/README.txt")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert "Starter kit of Video Pentathlon / Validation" in body and "queries.txt" in body
    assert Client().post("/c/video-pentathlon/val/kit/README.txt").status_code == 405


def test_the_organiser_dashboard_counts_and_uploads_ground_truth(phase, organiser, team, tiny_truth_path):
    SubmissionFactory(team=team, phase=phase, status=Submission.Status.FAILED)
    SubmissionFactory(team=team, phase=phase, status=Submission.Status.RUNNING)
    client = Client()
    client.force_login(organiser)
    page = client.get("/organiser/c/video-pentathlon/").content.decode()
    assert 'data-count="submissions">2<' in page and 'data-count="failed">1<' in page
    assert 'data-count="running">1<' in page and "<strong>present</strong>" in page
    response = client.post(f"/organiser/phases/{phase.id}/ground-truth/", follow=True)
    assert "Choose the ground-truth HDF5 file" in response.content.decode()
    with open(tiny_truth_path, "rb") as handle:
        response = client.post(f"/organiser/phases/{phase.id}/ground-truth/", {"file": handle}, follow=True)
    assert "ground truth stored for" in response.content.decode()


def test_the_dashboard_uploads_public_annotations_and_shows_the_caption_warning(
    phase, organiser, tiny_truth, tiny_truth_path, tmp_path
):
    import re

    d = tiny_truth.datasets["DiDeMo"]
    table = tmp_path / "public.tsv"
    rows = "".join(
        f"DiDeMo\t{d.videos[v]}\t{t}\n" for t, v in zip(d.query_text, d.query_video.tolist(), strict=True)
    )
    table.write_text("dataset\tvideo_id\tcaption\n" + rows, encoding="utf-8")
    client = Client()
    client.force_login(organiser)
    with open(tiny_truth_path, "rb") as truth, open(table, "rb") as annotations:
        response = client.post(
            f"/organiser/phases/{phase.id}/ground-truth/",
            {"file": truth, "annotations": annotations},
            follow=True,
        )
    page = response.content.decode()
    card = re.search(
        rf'<article class="card" data-phase="{phase.slug}"[^>]*>.*?</article>', page, re.S
    ).group(0)
    assert 'data-role="caption-warning"' in card and "use a code phase or new captions" in card
    assert f"DiDeMo: {d.num_queries} of {d.num_queries} queries carry text" in card
    table.write_bytes(b"caption only\nx\n")
    with open(tiny_truth_path, "rb") as truth, open(table, "rb") as annotations:
        response = client.post(
            f"/organiser/phases/{phase.id}/ground-truth/",
            {"file": truth, "annotations": annotations},
            follow=True,
        )
    assert response.status_code == 200
    assert "the ground truth was not stored. Invalid public annotations" in response.content.decode()


def test_the_submit_page_says_when_the_daily_count_resets_in_utc(phase, participant, team):
    from datetime import UTC

    phase.max_submissions_per_day = 1
    phase.save()
    SubmissionFactory(team=team, phase=phase, status=Submission.Status.FINISHED)
    tomorrow = (timezone.now().astimezone(UTC) + timedelta(days=1)).date()
    assert phase_status(phase=phase, team=team).resets_at.date() == tomorrow
    client = Client()
    client.force_login(participant)
    body = client.get("/c/video-pentathlon/val/submit/").content.decode()
    resets = phase_status(phase=phase, team=team).resets_at
    assert f"{tomorrow:%Y-%m-%d} 00:00" in local_time(resets)
    assert f"so submit again from {local_time(resets)}." in body


def test_the_submit_page_suggests_the_next_step_when_the_total_is_used(phase, participant, team):
    phase.max_submissions_total = 1
    phase.save()
    SubmissionFactory(team=team, phase=phase, status=Submission.Status.FINISHED)
    client = Client()
    client.force_login(participant)
    body = client.get("/c/video-pentathlon/val/submit/").content.decode()
    assert "Cancel a submission that has not started running to free its place" in body


def test_choose_as_final_is_offered_only_where_the_phase_counts_it(phase, participant, team):
    from challenge.models import Phase

    submission = SubmissionFactory(team=team, phase=phase, status=Submission.Status.FINISHED)
    client = Client()
    client.force_login(participant)
    assert "Choose as final submission" not in client.get(f"/submissions/{submission.id}/").content.decode()
    Phase.objects.filter(id=phase.id).update(final_submission=Phase.FinalSubmission.SELECTED)
    assert "Choose as final submission" in client.get(f"/submissions/{submission.id}/").content.decode()


def test_a_failed_submission_says_why_it_has_no_results(phase, participant, team):
    failed = SubmissionFactory(
        team=team, phase=phase, status=Submission.Status.FAILED, error_message="bad rows"
    )
    client = Client()
    client.force_login(participant)
    page = client.get(f"/submissions/{failed.id}/").content.decode()
    assert "could not be scored" in page and "Results appear here when scoring finishes" not in page


def test_top_k_results_say_why_a_metric_is_missing(phase, participant, team):
    from tests.factories import ResultFactory

    submission = SubmissionFactory(team=team, phase=phase, status=Submission.Status.FINISHED)
    t2v = {"R1": 10.0, "R5": 20.0, "R10": 30.0, "R50": None, "MedR": None, "MeanR": None}
    metrics = {
        "MSRVTT": {
            "format": "topk",
            "score": 20.0,
            "num_queries": 118,
            "num_videos": 30,
            "t2v": t2v,
            "v2t": None,
        }
    }
    ResultFactory(submission=submission, metrics=metrics, primary_score=None)
    client = Client()
    client.force_login(participant)
    page = client.get(f"/submissions/{submission.id}/").content.decode()
    assert all(f'data-missing="{key}"' in page for key in ("R50", "MedR", "MeanR"))
    assert 'data-missing="R1"' not in page
    assert "A top-k list does not say where a relevant video beyond the list ranks" in page
    assert "ranks videos for each query, not queries for each video" in page
