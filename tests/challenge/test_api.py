"""API flows with APIClient: token, upload, status and results, leaderboard, visibility."""

from __future__ import annotations

import pytest

from challenge.models import Submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_client(api_client, participant, password):
    response = api_client.post(
        "/api/v1/auth/token/", {"username": participant.username, "password": password}
    )
    assert response.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return api_client


def _post_file(client, phase, path, django_capture_on_commit_callbacks, **fields):
    with django_capture_on_commit_callbacks(execute=True), open(path, "rb") as handle:
        return client.post(
            "/api/v1/submissions/create/",
            {"phase": phase.id, "file": handle, "method_name": "CE", **fields},
            format="multipart",
        )


def _post_accepted(client, phase, make_submission_file, django_capture_on_commit_callbacks, seeds):
    """Send a new file per seed; each must be accepted (201)."""
    for seed in seeds:
        path = make_submission_file("npz", seed=seed)
        assert _post_file(client, phase, path, django_capture_on_commit_callbacks).status_code == 201, seed


def test_token_with_wrong_password_is_refused(api_client, participant):
    response = api_client.post("/api/v1/auth/token/", {"username": participant.username, "password": "wrong"})
    assert response.status_code == 400


def test_challenges_and_phases_are_listed(api_client, phase, hidden_phase):
    assert [c["slug"] for c in api_client.get("/api/v1/challenges/").json()] == ["video-pentathlon"]
    detail = api_client.get("/api/v1/challenges/video-pentathlon/").json()
    assert [p["slug"] for p in detail["phases"]] == ["val", "test"]
    val = detail["phases"][0]
    assert {d["name"] for d in val["datasets"]} == {"MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"}
    assert val["results_published"] is True and detail["phases"][1]["results_published"] is False
    assert api_client.get("/api/v1/challenges/video-pentathlon/phases/").json() == detail["phases"]
    assert api_client.get("/api/v1/challenges/nope/").status_code == 404


def test_upload_status_results_and_leaderboard(
    token_client, phase, make_submission_file, django_capture_on_commit_callbacks
):
    response = _post_file(
        token_client,
        phase,
        make_submission_file("npz"),
        django_capture_on_commit_callbacks,
        paper_url="https://example.org/paper",
    )
    assert response.status_code == 201, response.json()
    submission_id = response.json()["id"]
    detail = token_client.get(f"/api/v1/submissions/{submission_id}/").json()
    assert detail["status"] == "finished" and detail["results_visible"] is True
    results = detail["results"]
    assert set(results["datasets"]) == {"MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"}
    msrvtt = results["datasets"]["MSRVTT"]
    assert {"R1", "R5", "R10", "MedR", "geometric_mean_R1-R5-R10"} <= set(msrvtt["t2v"])
    assert msrvtt["v2t"] is not None
    board = token_client.get(f"/api/v1/phases/{phase.id}/leaderboard/").json()
    assert board["published"] is True
    [entry] = board["entries"]
    assert entry["submission_id"] == submission_id and entry["team"] == "Alpha"
    assert entry["primary_score"] == pytest.approx(results["overall_score"])
    assert entry["scores"]["MSRVTT"] == pytest.approx(msrvtt["score"])
    assert [s["id"] for s in token_client.get("/api/v1/submissions/").json()] == [submission_id]


def test_making_a_submission_private_removes_it_from_the_leaderboard(
    token_client, phase, make_submission_file, django_capture_on_commit_callbacks
):
    submission_id = _post_file(
        token_client, phase, make_submission_file("npz"), django_capture_on_commit_callbacks
    ).json()["id"]
    response = token_client.post(f"/api/v1/submissions/{submission_id}/update/", {"is_public": False})
    assert response.status_code == 200 and response.json()["is_public"] is False
    assert token_client.get(f"/api/v1/phases/{phase.id}/leaderboard/").json()["entries"] == []


@pytest.mark.django_db(transaction=True)  # the upload view is non-atomic, as in production
def test_domain_errors_are_400_with_a_sentence(
    token_client, phase, make_submission_file, tmp_path, django_capture_on_commit_callbacks
):
    path = make_submission_file("npz").rename(tmp_path / "x.txt")
    response = _post_file(token_client, phase, path, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert "does not end in .zip, .npz or .h5" in response.json()["detail"]
    response = token_client.post("/api/v1/submissions/create/", {"phase": phase.id}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()
    assert not Submission.objects.exists()


def test_quota_error_is_400(
    token_client, hidden_phase, make_submission_file, django_capture_on_commit_callbacks
):
    _post_accepted(
        token_client, hidden_phase, make_submission_file, django_capture_on_commit_callbacks, range(3)
    )
    response = _post_file(
        token_client, hidden_phase, make_submission_file("npz", seed=4), django_capture_on_commit_callbacks
    )
    assert response.status_code == 400 and "used all 3 submissions" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)  # the refusal rolls back the test's own atomic block otherwise
def test_a_file_sent_again_is_a_409_naming_the_earlier_submission(
    token_client, hidden_phase, make_submission_file, django_capture_on_commit_callbacks
):
    path = make_submission_file("npz", seed=7)
    first = _post_file(token_client, hidden_phase, path, django_capture_on_commit_callbacks).json()["id"]
    response = _post_file(token_client, hidden_phase, path, django_capture_on_commit_callbacks)
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["extra"]["submission"] == first
    assert body["extra"]["url"].endswith(f"/submissions/{first}/")
    assert f"submission #{first}" in body["detail"] and body["extra"]["url"] in body["detail"]
    assert Submission.objects.count() == 1
    # the refusal used no quota: the phase's 3 places are all still there for different files
    _post_accepted(
        token_client, hidden_phase, make_submission_file, django_capture_on_commit_callbacks, (8, 9)
    )


@pytest.mark.django_db(transaction=True)
def test_choosing_a_final_submission_is_refused_by_the_api_where_it_does_not_count(
    token_client, phase, make_submission_file, django_capture_on_commit_callbacks
):
    submission_id = _post_file(
        token_client, phase, make_submission_file("npz"), django_capture_on_commit_callbacks
    ).json()["id"]
    response = token_client.post(
        f"/api/v1/submissions/{submission_id}/update/", {"is_final": True}, format="json"
    )
    assert response.status_code == 400
    assert "does not let teams choose a final submission" in response.json()["detail"]
    assert Submission.objects.get(id=submission_id).is_final is False


def test_an_unknown_phase_id_is_a_404_that_lists_the_open_phases(token_client, phase):
    response = token_client.get("/api/v1/phases/999999/kit/")
    assert response.status_code == 404
    assert f"Open for submissions now: {phase.id} (video-pentathlon/val)." in response.json()["detail"]


def test_hidden_phase_hides_scores_from_the_team_until_published(
    token_client, hidden_phase, make_submission_file, django_capture_on_commit_callbacks, api_client
):
    from challenge.services import phase_publish_results

    submission_id = _post_file(
        token_client, hidden_phase, make_submission_file("npz"), django_capture_on_commit_callbacks
    ).json()["id"]
    detail = token_client.get(f"/api/v1/submissions/{submission_id}/").json()
    assert detail["status"] == "finished" and detail["results"] is None and detail["results_visible"] is False
    board = token_client.get(f"/api/v1/phases/{hidden_phase.id}/leaderboard/").json()
    assert board["entries"] == [] and "hidden until the organisers publish" in board["detail"]
    phase_publish_results(phase=hidden_phase, published=True)
    assert token_client.get(f"/api/v1/submissions/{submission_id}/").json()["results"]["overall_score"] > 0
    assert len(token_client.get(f"/api/v1/phases/{hidden_phase.id}/leaderboard/").json()["entries"]) == 1


def test_malformed_upload_fails_with_the_message_shown_to_its_owner(
    token_client, phase, nan_submission_file, django_capture_on_commit_callbacks
):
    path = nan_submission_file("MSVD")
    submission_id = _post_file(token_client, phase, path, django_capture_on_commit_callbacks).json()["id"]
    detail = token_client.get(f"/api/v1/submissions/{submission_id}/").json()
    assert detail["status"] == "failed" and "MSVD" in detail["error_message"]
    page = token_client.get(f"/submissions/{submission_id}/")  # session-less: the page needs a login
    assert page.status_code == 302


def test_upload_endpoints_stream_outside_the_request_transaction():
    """On SQLite a request transaction would hold the database write lock for the whole upload."""
    from django.urls import resolve

    for url in ("/api/v1/submissions/create/", "/c/video-pentathlon/val/submit/"):
        assert "default" in getattr(resolve(url).func, "_non_atomic_requests", set()), url


def test_submission_detail_exposes_attempts_queue_heartbeat_and_per_dataset_progress(
    token_client, participant, phase, upload, client
):
    from django.utils import timezone

    finished = upload("npz")
    data = token_client.get(f"/api/v1/submissions/{finished.id}/").json()
    assert data["attempts"] == 1 and data["queue"] == finished.queue != ""
    assert data["progress"]["fraction"] == 1.0
    assert data["progress"]["datasets"] == {
        name: 1.0 for name in ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")
    }

    beat = timezone.now()
    Submission.objects.filter(id=finished.id).update(
        status=Submission.Status.RUNNING,
        attempts=2,
        heartbeat_at=beat,
        progress={"stage": "scoring MSVD", "fraction": 0.3, "datasets": {"MSRVTT": 1.0, "MSVD": 0.5}},
    )
    data = token_client.get(f"/api/v1/submissions/{finished.id}/").json()
    assert data["attempts"] == 2 and data["heartbeat_at"] is not None
    assert data["progress"] == {
        "stage": "scoring MSVD",
        "fraction": 0.3,
        "datasets": {"MSRVTT": 1.0, "MSVD": 0.5},
    }
    # the page shows one live bar per dataset, filled from the same progress
    client.force_login(participant)
    page = client.get(f"/submissions/{finished.id}/").content.decode()
    assert 'data-dataset="MSVD"' in page and 'data-dataset="ActivityNet"' in page and "width:50%" in page

    Submission.objects.filter(id=finished.id).update(
        status=Submission.Status.QUEUED, progress={}, heartbeat_at=None
    )
    data = token_client.get(f"/api/v1/submissions/{finished.id}/").json()
    assert data["progress"] == {"stage": "", "fraction": 0.0, "datasets": {}} and data["heartbeat_at"] is None


@pytest.mark.django_db
def test_challenge_detail_gives_its_metric_set_direction_and_words(api_client):
    from tests.factories import ChallengeFactory

    ChallengeFactory(
        slug="clips",
        primary_metric="mAP@10",
        metrics=["mAP@10", "mAP@16", "R1"],
        query_modality="text",
        gallery_modality="audio",
    )
    detail = api_client.get("/api/v1/challenges/clips/").json()
    assert detail["primary_metric"] == "mAP@10" and detail["higher_is_better"] is True
    assert detail["metrics"] == ["mAP@10", "mAP@16", "R1"]
    assert (detail["query_modality"], detail["gallery_modality"]) == ("text", "audio")
    assert detail["words"] == {
        "query": "caption",
        "queries": "captions",
        "item": "audio clip",
        "items": "audio clips",
        "forward": "text→audio",
        "backward": "audio→text",
    }
