"""Who may see and do what, for every page and endpoint: anonymous, another team, organiser, owner."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from challenge.models import Submission

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "other_team", "organiser", "owner")


@pytest.fixture
def world(upload, participant, other_participant, organiser, phase, hidden_phase):
    """An owner's finished submission in each phase; the hidden phase's results are unpublished."""
    return {
        "val": upload("npz", seed=1),
        "test": upload("npz", seed=2, phase_=hidden_phase),
        "users": {"other_team": other_participant, "organiser": organiser, "owner": participant},
        "phase": phase,
        "hidden": hidden_phase,
    }


@pytest.fixture
def rows(team, participant, other_participant, organiser, phase, hidden_phase):
    """The same world from factories, for the tables of pages and endpoints (246 cases): who may see
    what depends on the rows, not on the scoring, which `world` runs for real."""
    from tests.factories import ResultFactory, SubmissionFactory

    val, test = (
        ResultFactory(submission=SubmissionFactory(team=team, phase=p, created_by=participant)).submission
        for p in (phase, hidden_phase)
    )
    return {
        "val": val,
        "test": test,
        "users": {"other_team": other_participant, "organiser": organiser, "owner": participant},
        "phase": phase,
        "hidden": hidden_phase,
    }


def _client(world, role, cls=Client):
    client = cls()
    if role != "anonymous":
        client.force_login(world["users"][role])
    return client


def _api(world, role):
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(world["users"][role])
    return client


PAGES = [
    # (url template, expected status per role: anonymous, other_team, organiser, owner)
    ("/", (200, 200, 200, 200)),
    # logged-in users are sent on from the entrance pages (allauth)
    ("/accounts/login/", (200, 302, 302, 302)),
    ("/accounts/signup/", (200, 302, 302, 302)),
    ("/accounts/password/reset/", (200, 200, 200, 200)),
    ("/accounts/password_reset/", (301, 301, 301, 301)),
    ("/c/video-pentathlon/", (200, 200, 200, 200)),
    ("/c/video-pentathlon/team/", (302, 200, 200, 200)),
    ("/c/video-pentathlon/submissions/", (302, 200, 200, 200)),
    ("/c/video-pentathlon/val/submit/", (302, 200, 302, 200)),  # organiser has no team: sent to the team page
    ("/submissions/{val}/", (302, 404, 200, 200)),
    ("/c/video-pentathlon/val/leaderboard/", (200, 200, 200, 200)),
    ("/c/video-pentathlon/test/leaderboard/", (200, 200, 200, 200)),
    ("/c/nope/", (404, 404, 404, 404)),
    ("/admin/", (302, 302, 200, 302)),
    ("/admin/challenge/phase/{phase}/change/", (302, 302, 200, 302)),
    ("/admin/challenge/submission/{val}/change/", (302, 302, 200, 302)),
    ("/admin/leaderboard/result/", (302, 302, 200, 302)),
]


@pytest.mark.parametrize(("url", "expected"), PAGES)
@pytest.mark.parametrize("role_index", range(4), ids=ROLES)
def test_pages(rows, url, expected, role_index):
    role, world = ROLES[role_index], rows
    url = url.format(val=world["val"].id, phase=world["phase"].id)
    response = _client(world, role).get(url)
    assert response.status_code == expected[role_index], (role, url)
    if response.status_code == 302 and role == "anonymous" and not url.startswith("/admin/"):
        assert response["Location"].startswith("/accounts/login/")


def test_my_submissions_lists_only_the_own_team(world):
    body = _client(world, "other_team").get("/c/video-pentathlon/submissions/").content.decode()
    assert "No submissions yet" in body
    body = _client(world, "owner").get("/c/video-pentathlon/submissions/").content.decode()
    assert f'data-submission="{world["val"].id}"' in body


def test_hidden_leaderboard_shows_scores_to_organisers_only(world):
    score = f"{world['test'].result.primary_score:.2f}"
    for role in ("anonymous", "other_team", "owner"):
        body = _client(world, role).get("/c/video-pentathlon/test/leaderboard/").content.decode()
        assert "hidden until the organisers publish" in body and score not in body
    body = _client(world, "organiser").get("/c/video-pentathlon/test/leaderboard/").content.decode()
    assert score in body and "not published yet" in body


def test_submission_page_hides_hidden_phase_scores_from_the_owner(world):
    body = _client(world, "owner").get(f"/submissions/{world['test'].id}/").content.decode()
    assert "hidden until the organisers publish" in body
    body = _client(world, "owner").get(f"/submissions/{world['val'].id}/").content.decode()
    assert "geometric_mean_R1-R5-R10" in body and "MSRVTT" in body


@pytest.mark.parametrize(
    ("role", "expected"), [("anonymous", 302), ("other_team", 404), ("organiser", 403), ("owner", 302)]
)
def test_visibility_toggle_page(rows, role, expected):
    world, submission = rows, rows["val"]
    response = _client(world, role).post(f"/submissions/{submission.id}/change/", {"is_public": "0"})
    assert response.status_code == expected
    submission.refresh_from_db()
    assert submission.is_public is (role != "owner")


API = [
    ("get", "/api/v1/challenges/", (200, 200, 200, 200)),
    ("get", "/api/v1/challenges/video-pentathlon/", (200, 200, 200, 200)),
    ("get", "/api/v1/challenges/video-pentathlon/phases/", (200, 200, 200, 200)),
    ("get", "/api/v1/submissions/", (401, 200, 200, 200)),
    ("get", "/api/v1/submissions/{val}/", (401, 404, 200, 200)),
    ("post", "/api/v1/submissions/{val}/update/", (401, 404, 403, 200)),
    ("post", "/api/v1/submissions/{val}/cancel/", (401, 404, 403, 400)),  # finished: too late to cancel
    ("get", "/api/v1/phases/{phase}/leaderboard/", (200, 200, 200, 200)),
    ("get", "/api/v1/phases/999999/leaderboard/", (404, 404, 404, 404)),
    ("get", "/api/v1/schema/", (301, 301, 301, 301)),  # one schema: redirected to /api/schema/
]


@pytest.mark.parametrize(("method", "url", "expected"), API)
@pytest.mark.parametrize("role_index", range(4), ids=ROLES)
def test_api_endpoints(rows, method, url, expected, role_index):
    role, world = ROLES[role_index], rows
    url = url.format(val=world["val"].id, phase=world["phase"].id)
    response = getattr(_api(world, role), method)(url, {"is_public": True} if method == "post" else None)
    assert response.status_code == expected[role_index], (role, url, getattr(response, "data", None))


@pytest.mark.parametrize(
    ("role", "expected"), [("anonymous", 401), ("other_team", 201), ("organiser", 403), ("owner", 201)]
)
def test_api_upload_needs_a_team(
    world, role, expected, make_submission_file, django_capture_on_commit_callbacks
):
    path = make_submission_file("npz", seed=7)
    with django_capture_on_commit_callbacks(execute=True), open(path, "rb") as handle:
        response = _api(world, role).post(
            "/api/v1/submissions/create/",
            {"phase": world["phase"].id, "file": handle, "method_name": "m"},
            format="multipart",
        )
    assert response.status_code == expected
    if expected == 403:
        assert "create or join a team" in response.json()["detail"]


def test_submission_list_api_returns_only_the_own_team(world):
    assert _api(world, "other_team").get("/api/v1/submissions/").json() == []
    ids = {s["id"] for s in _api(world, "owner").get("/api/v1/submissions/").json()}
    assert ids == {world["val"].id, world["test"].id}


def test_uploaded_and_ground_truth_files_are_never_served(world, settings):
    """No URL serves the private storage: not /media/, not /static/, not the storage path itself."""
    names = [world["phase"].ground_truth.name, world["hidden"].ground_truth.name, world["val"].file.name]
    secret = open(world["phase"].ground_truth.path, "rb").read()[:64]
    for role in ROLES:
        client = _client(world, role)
        for name in names:
            for prefix in ("/media/", "/static/", "/private/", "/", "/var/private/", "/admin/"):
                response = client.get(prefix + name)
                assert response.status_code in (302, 404), (role, prefix + name)
                assert secret not in response.content
        body = client.get(f"/admin/challenge/phase/{world['phase'].id}/change/").content
        assert world["phase"].ground_truth.name.encode() not in body or role == "organiser"
    assert not str(settings.PRIVATE_STORAGE_ROOT).startswith(str(settings.MEDIA_ROOT))
    with pytest.raises(ValueError, match="never served"):
        world["phase"].ground_truth.url  # noqa: B018 - the property raises


def test_no_route_serves_files_from_disk():
    from django.urls import get_resolver
    from django.views.static import serve

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns)
            else:
                yield pattern.callback

    assert serve not in set(walk(get_resolver().url_patterns))


def test_failed_submission_message_is_shown_to_its_owner_only(world, upload, nan_submission_file):
    path = nan_submission_file("DiDeMo")
    failed = upload(path=path)
    assert failed.status == Submission.Status.FAILED
    body = _client(world, "owner").get(f"/submissions/{failed.id}/").content.decode()
    assert "DiDeMo" in body and "error-box" in body
    assert _client(world, "other_team").get(f"/submissions/{failed.id}/").status_code == 404
