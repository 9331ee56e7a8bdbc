"""Participant journeys through the server-rendered pages."""

from __future__ import annotations

import pytest
from django.test import Client

from challenge.models import Submission, Team

pytestmark = pytest.mark.django_db


def test_signup_logs_in_and_team_create_then_join(challenge):
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "email": "carol@example.org",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )
    assert response.status_code == 302
    response = client.post("/c/video-pentathlon/team/", {"action": "create", "name": "Gamma"}, follow=True)
    team = Team.objects.get(name="Gamma")
    assert team.invite_code in response.content.decode()
    friend = Client()
    friend.post(
        "/accounts/signup/",
        {
            "username": "dave",
            "email": "dave@example.org",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )
    response = friend.post(
        "/c/video-pentathlon/team/", {"action": "join", "invite_code": team.invite_code}, follow=True
    )
    assert "You joined team" in response.content.decode()
    assert set(team.members.values_list("username", flat=True)) == {"carol", "dave"}


def test_signup_errors_are_shown(challenge):
    response = Client().post("/accounts/signup/", {"username": "x", "password1": "a", "password2": "b"})
    assert response.status_code == 400 and "errorlist" in response.content.decode()


def test_team_join_with_a_wrong_code_is_explained(participant, challenge):
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory())
    response = client.post("/c/video-pentathlon/team/", {"action": "join", "invite_code": "wrong"})
    assert response.status_code == 400 and "No team has this invite code" in response.content.decode()


def test_login_page_logs_in(participant, password):
    client = Client()
    response = client.post("/accounts/login/", {"login": "alice", "password": password}, follow=True)
    assert "Log out" in response.content.decode()


def test_upload_form_with_xhr_returns_the_submission_page(
    participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(participant)
    page = client.get("/c/video-pentathlon/val/submit/").content.decode()
    assert 'id="upload-form"' in page and "js/upload.js" in page and 'id="upload-progress"' in page
    path = make_submission_file("h5")
    with django_capture_on_commit_callbacks(execute=True), open(path, "rb") as handle:
        response = client.post(
            "/c/video-pentathlon/val/submit/",
            {"file": handle, "method_name": "Collaborative Experts", "is_public": "on"},
            HTTP_X_REQUESTED_WITH="XMLHttpRequest",
        )
    assert response.status_code == 201
    submission = Submission.objects.get()
    assert response.json()["redirect"] == f"/submissions/{submission.id}/"
    body = client.get(response.json()["redirect"]).content.decode()
    assert "Collaborative Experts" in body and "Finished" in body
    for name in ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"):
        assert name in body
    assert "text→video" in body and "video→text" in body


def test_upload_form_shows_the_refusal_as_a_sentence(participant, phase, make_submission_file, tmp_path):
    client = Client()
    client.force_login(participant)
    path = make_submission_file("npz").rename(tmp_path / "sims.h5")
    with open(path, "rb") as handle:
        response = client.post("/c/video-pentathlon/val/submit/", {"file": handle, "method_name": "m"})
    assert response.status_code == 400
    assert "first bytes do not match" in response.content.decode()


def test_upload_form_refuses_a_file_sent_again_with_a_link_to_the_earlier_one(
    upload, participant, make_submission_file
):
    path = make_submission_file("npz", seed=21)
    first = upload(path=path)
    client = Client()
    client.force_login(participant)
    with open(path, "rb") as handle:
        response = client.post("/c/video-pentathlon/val/submit/", {"file": handle, "method_name": "again"})
    assert response.status_code == 409
    body = response.content.decode()
    assert (
        f'<a href="/submissions/{first.id}/" data-role="duplicate-link">Open submission #{first.id}</a>'
        in body
    )
    assert "Your team already submitted this file" in body and 'id="upload-form"' in body
    assert Submission.objects.count() == 1


def test_choose_as_final_is_offered_and_accepted_only_where_the_team_choice_counts(
    upload, participant, phase
):
    from challenge.models import Phase

    submission = upload("npz")
    client = Client()
    client.force_login(participant)
    for rule in (Phase.FinalSubmission.BEST, Phase.FinalSubmission.LAST):
        Phase.objects.filter(id=phase.id).update(final_submission=rule)
        assert (
            "Choose as final submission" not in client.get(f"/submissions/{submission.id}/").content.decode()
        )
        page = client.post(f"/submissions/{submission.id}/change/", {"is_final": "1"}, follow=True)
        assert "does not let teams choose a final submission" in page.content.decode()
        submission.refresh_from_db()
        assert submission.is_final is False
    Phase.objects.filter(id=phase.id).update(final_submission=Phase.FinalSubmission.SELECTED)
    assert "Choose as final submission" in client.get(f"/submissions/{submission.id}/").content.decode()
    client.post(f"/submissions/{submission.id}/change/", {"is_final": "1"})
    submission.refresh_from_db()
    assert submission.is_final is True


def test_my_submissions_page_polls_the_api_for_unfinished_rows(
    participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    from django.core.files import File

    from challenge.services import submission_create

    path = make_submission_file("npz")
    with django_capture_on_commit_callbacks(execute=False), open(path, "rb") as handle:
        queued = submission_create(
            user=participant, phase=phase, file=File(handle, name="s.npz"), method_name="m"
        )
    client = Client()
    client.force_login(participant)
    body = client.get("/c/video-pentathlon/submissions/").content.decode()
    assert f'data-api="/api/v1/submissions/{queued.id}/"' in body and 'data-final="0"' in body
    assert "js/poll.js" in body


def test_toggle_public_private_from_the_submission_page(
    upload, participant, django_capture_on_commit_callbacks
):
    submission = upload("npz")
    client = Client()
    client.force_login(participant)
    with django_capture_on_commit_callbacks(execute=True):  # the commit bumps the boards' version
        client.post(f"/submissions/{submission.id}/change/", {"is_public": "0"})
    submission.refresh_from_db()
    assert submission.is_public is False
    body = client.get("/c/video-pentathlon/val/leaderboard/").content.decode()
    assert "No scored public submission yet" in body
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/submissions/{submission.id}/change/", {"is_public": "1"})
    body = client.get("/c/video-pentathlon/val/leaderboard/").content.decode()
    assert submission.method_name in body and "Alpha" in body


def test_static_css_is_served_locally():
    response = Client().get("/static/css/site.css")
    assert response.status_code == 200
    page = Client().get("/").content.decode()
    assert "/static/css/site.css" in page and "cdn" not in page.lower()


def test_the_submission_page_shows_its_intervals_and_the_charts_their_error_bars(upload, participant):
    submission = upload()
    intervals = submission.result.intervals
    client = Client()
    client.force_login(participant)
    page = client.get(f"/submissions/{submission.id}/").content.decode()
    overall = intervals["overall_score"]
    assert f"[{overall['low']:.2f}, {overall['high']:.2f}]" in page and "95 % bootstrap interval" in page
    score = intervals["datasets"]["MSVD"]["score"]
    assert f"[{score['low']:.2f}, {score['high']:.2f}]" in page
    assert "text→video interval" in page and "video→text interval" in page
    charts = client.get(f"/api/v1/submissions/{submission.id}/charts/").json()
    for dataset in charts["datasets"]:
        low, high = dataset["intervals"]["R5"]
        assert low <= dataset["R5"] <= high


def test_a_hidden_phase_shows_its_team_no_interval(upload, participant, hidden_phase):
    submission = upload(phase_=hidden_phase)
    assert submission.result.intervals is not None  # stored, for the organisers
    client = Client()
    client.force_login(participant)
    page = client.get(f"/submissions/{submission.id}/").content.decode()
    assert "data-ci" not in page and "bootstrap interval" not in page
    data = client.get(f"/api/v1/submissions/{submission.id}/").json()
    assert data["results"] is None
    charts = client.get(f"/api/v1/submissions/{submission.id}/charts/").json()
    assert charts["datasets"] == []
