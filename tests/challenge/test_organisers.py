"""Organisers are per challenge: `Challenge.organisers` (and superusers) hold a challenge's hidden
results, ground truth and organiser tools; staff status alone holds none of them."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from challenge.bundle import BundleError, bundle_dump, bundle_load, bundle_parse
from challenge.models import Challenge, Phase, Submission, Team
from challenge.selectors import (
    challenge_is_organiser,
    challenge_list,
    challenge_organised_list,
    submission_results_visible,
)
from core.exceptions import PermissionDeniedError
from leaderboard.selectors import leaderboard_visible
from tests.factories import (
    ChallengeFactory,
    DatasetFactory,
    MembershipFactory,
    OrganiserFactory,
    PhaseFactory,
    ResultFactory,
    SubmissionFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

SECRET_SCORE = 93.137531


@pytest.fixture
def other(db):
    """Challenge B: a hidden test phase with a scored submission of an unapproved team."""
    challenge = ChallengeFactory(slug="challenge-b", title="Challenge B")
    DatasetFactory(challenge=challenge, name="MSRVTT")
    phase = PhaseFactory(
        challenge=challenge, slug="test", leaderboard_visibility=Phase.LeaderboardVisibility.HIDDEN
    )
    team = TeamFactory(challenge=challenge, name="Bravo", is_approved=False)
    MembershipFactory(team=team, user=UserFactory(username="bravo"), role="owner")
    submission = SubmissionFactory(team=team, phase=phase, method_name="bravo method")
    ResultFactory(submission=submission, primary_score=SECRET_SCORE)
    return {"challenge": challenge, "phase": phase, "team": team, "submission": submission}


@pytest.fixture
def organiser_b(other):
    return OrganiserFactory(username="org-b", organises=[other["challenge"]])


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the one permission test --------------------------------------------------------------------------


def test_challenge_is_organiser_truth_table(challenge, organiser, other, superuser):
    staff = UserFactory(username="support", is_staff=True)
    inactive = OrganiserFactory(username="gone", organises=[challenge], is_active=False)
    assert challenge_is_organiser(user=organiser, challenge=challenge)
    assert challenge_is_organiser(user=organiser, challenge=challenge.id)
    assert not challenge_is_organiser(user=organiser, challenge=other["challenge"])
    assert challenge_is_organiser(user=superuser, challenge=other["challenge"])
    assert not challenge_is_organiser(user=staff, challenge=challenge)  # staff alone is not an organiser
    assert not challenge_is_organiser(user=inactive, challenge=challenge)
    assert not challenge_is_organiser(user=AnonymousUser(), challenge=challenge)
    assert not challenge_is_organiser(user=None, challenge=challenge)
    assert set(challenge_organised_list(user=organiser)) == {challenge}
    assert set(challenge_organised_list(user=superuser)) == {challenge, other["challenge"]}
    assert not challenge_organised_list(user=staff).exists()


def test_staff_alone_does_not_see_hidden_results(other):
    staff = UserFactory(username="support", is_staff=True)
    phase, submission = other["phase"], other["submission"]
    assert not leaderboard_visible(phase=phase, user=staff)
    assert not submission_results_visible(submission=submission, user=staff)
    client = _client(staff)
    board = client.get(f"/api/v1/phases/{phase.id}/leaderboard/").json()
    assert board["entries"] == [] and "hidden" in board["detail"]
    assert client.get(f"/api/v1/submissions/{submission.id}/").status_code == 404
    assert client.get(f"/submissions/{submission.id}/").status_code == 404
    page = client.get(f"/c/{other['challenge'].slug}/test/leaderboard/").content.decode()
    assert f"{SECRET_SCORE:.2f}" not in page
    assert client.get(f"/c/{other['challenge'].slug}/test/leaderboard.csv").status_code == 403
    assert client.get("/admin/leaderboard/result/").status_code == 403  # admin open, results not


# --- an organiser of A and challenge B ------------------------------------------------------------------


def test_organiser_of_a_cannot_see_the_hidden_results_of_b(organiser, other):
    client = _client(organiser)
    phase, submission, slug = other["phase"], other["submission"], other["challenge"].slug
    board = client.get(f"/api/v1/phases/{phase.id}/leaderboard/").json()
    assert board["entries"] == [] and "hidden" in board["detail"]
    assert client.get(f"/api/v1/phases/{phase.id}/leaderboard/history/").json()["points"] == []
    assert client.get(f"/api/v1/submissions/{submission.id}/").status_code == 404
    assert client.get(f"/api/v1/submissions/{submission.id}/charts/").status_code == 404
    assert client.get(f"/submissions/{submission.id}/").status_code == 404
    page = client.get(f"/c/{slug}/test/leaderboard/").content.decode()
    assert f"{SECRET_SCORE:.2f}" not in page and "Organiser tools" not in page
    assert client.get(f"/c/{slug}/test/leaderboard.csv").status_code == 403


def test_organiser_of_a_cannot_use_the_organiser_tools_or_exports_of_b(organiser, other):
    client = _client(organiser)
    phase, submission, team, slug = (
        other["phase"],
        other["submission"],
        other["team"],
        other["challenge"].slug,
    )
    for url in (
        f"/organiser/c/{slug}/",
        f"/organiser/c/{slug}/bundle.yaml",
        f"/organiser/phases/{phase.id}/submissions.csv",
        f"/organiser/phases/{phase.id}/rescore/",
    ):
        assert client.get(url).status_code == 404, url
    for url, data in (
        (f"/organiser/phases/{phase.id}/publish/", {"visibility": "public"}),
        (f"/organiser/phases/{phase.id}/lock/", {"locked": "1"}),
        (f"/organiser/phases/{phase.id}/rescore/", {"reason": "x"}),
        (f"/organiser/teams/{team.id}/approve/", {"approved": "1"}),
        (f"/organiser/submissions/{submission.id}/moderate/", {"moderation": "hidden", "reason": "x"}),
        (f"/organiser/submissions/{submission.id}/refund/", {"reason": "x"}),
    ):
        assert client.post(url, data).status_code == 404, url
    phase.refresh_from_db()
    submission.refresh_from_db()
    team.refresh_from_db()
    assert phase.leaderboard_visibility == "hidden" and not phase.public_choice_locked
    assert submission.moderation == "" and not submission.quota_refunded and not team.is_approved
    assert submission.status == Submission.Status.FINISHED  # not re-queued


def test_organiser_of_a_cannot_reach_b_in_the_admin(organiser, other, challenge, tiny_truth_path):
    client = _client(organiser)
    phase, submission = other["phase"], other["submission"]
    result = submission.result
    for url in (
        f"/admin/challenge/challenge/{other['challenge'].id}/change/",
        f"/admin/challenge/phase/{phase.id}/change/",
        f"/admin/challenge/phase/{phase.id}/delete/",
        f"/admin/challenge/phase/{phase.id}/history/",
        f"/admin/challenge/team/{other['team'].id}/change/",
        f"/admin/challenge/submission/{submission.id}/change/",
        f"/admin/leaderboard/result/{result.id}/change/",
    ):
        assert client.get(url).status_code == 404, url
    # No ground-truth upload into B's phase either.
    with open(tiny_truth_path, "rb") as handle:
        response = client.post(
            f"/admin/challenge/phase/{phase.id}/change/",
            {"challenge": challenge.id, "slug": "test", "title": "x", "ground_truth_upload": handle},
        )
    assert response.status_code == 404
    phase.refresh_from_db()
    assert not phase.ground_truth
    # The lists show A's rows only; B's hidden score is nowhere.
    for url in (
        "/admin/challenge/challenge/",
        "/admin/challenge/phase/",
        "/admin/challenge/team/",
        "/admin/challenge/submission/",
        "/admin/leaderboard/result/",
        "/admin/challenge/split/",
    ):
        body = client.get(url).content.decode()
        assert "Challenge B" not in body and "challenge-b" not in body and "Bravo" not in body, url
        assert f"{SECRET_SCORE}" not in body, url
    # Its admin actions cannot touch B's phase (the action's queryset is scoped).
    client.post("/admin/challenge/phase/", {"action": "publish_results", "_selected_action": [phase.id]})
    phase.refresh_from_db()
    assert phase.leaderboard_visibility == "hidden"
    # Foreign-key choices offer A only.
    form = client.get("/admin/challenge/phase/add/").content.decode()
    assert "Challenge B" not in form and challenge.title in form


def test_organiser_of_a_does_see_its_own_hidden_results(organiser, challenge, hidden_phase, team):
    submission = SubmissionFactory(team=team, phase=hidden_phase)
    ResultFactory(submission=submission, primary_score=SECRET_SCORE)
    client = _client(organiser)
    board = client.get(f"/api/v1/phases/{hidden_phase.id}/leaderboard/").json()
    assert [e["primary_score"] for e in board["entries"]] == [SECRET_SCORE]
    assert client.get(f"/api/v1/submissions/{submission.id}/").json()["results_visible"] is True
    assert client.get(f"/organiser/c/{challenge.slug}/").status_code == 200
    assert client.get(f"/organiser/phases/{hidden_phase.id}/submissions.csv").status_code == 200
    assert client.get(f"/admin/challenge/phase/{hidden_phase.id}/change/").status_code == 200
    assert str(SECRET_SCORE) in client.get("/admin/leaderboard/result/").content.decode()


def test_superuser_can_do_everything_for_b(superuser, other):
    client = _client(superuser)
    phase, submission, slug = other["phase"], other["submission"], other["challenge"].slug
    board = client.get(f"/api/v1/phases/{phase.id}/leaderboard/").json()
    assert [e["primary_score"] for e in board["entries"]] == [SECRET_SCORE]
    assert client.get(f"/c/{slug}/test/leaderboard.csv").status_code == 200
    for url in (
        f"/organiser/c/{slug}/",
        f"/organiser/c/{slug}/bundle.yaml",
        f"/organiser/phases/{phase.id}/submissions.csv",
        f"/organiser/phases/{phase.id}/rescore/",
        f"/admin/challenge/phase/{phase.id}/change/",
        f"/admin/leaderboard/result/{submission.result.id}/change/",
    ):
        assert client.get(url).status_code == 200, url
    client.post(f"/organiser/phases/{phase.id}/publish/", {"visibility": "public"})
    phase.refresh_from_db()
    assert phase.results_published


def test_draft_challenges_are_visible_to_their_organisers_only(organiser, other, superuser):
    draft = other["challenge"]
    Challenge.objects.filter(id=draft.id).update(is_public=False)
    staff = UserFactory(username="support", is_staff=True)
    draft_organiser = OrganiserFactory(username="drafter", organises=[draft])
    assert draft not in challenge_list(user=organiser) and draft not in challenge_list(user=staff)
    assert draft in challenge_list(user=draft_organiser) and draft in challenge_list(user=superuser)
    assert _client(staff).get(f"/c/{draft.slug}/").status_code == 404
    assert _client(draft_organiser).get(f"/c/{draft.slug}/").status_code == 200


def test_only_the_challenge_organisers_submit_outside_the_phase_dates(challenge, phase, organiser, upload):
    from datetime import timedelta

    from django.utils import timezone

    from core.exceptions import ApplicationError

    Phase.objects.filter(id=phase.id).update(
        ends_at=timezone.now() - timedelta(minutes=1), starts_at=timezone.now() - timedelta(days=2)
    )
    phase.refresh_from_db()
    staff = UserFactory(username="support", is_staff=True)
    MembershipFactory(team=TeamFactory(challenge=challenge, name="Support"), user=staff)
    with pytest.raises(ApplicationError, match="closed"):
        upload("npz", user=staff, phase_=phase)
    MembershipFactory(
        team=TeamFactory(challenge=challenge, name="Baselines", is_baseline=True), user=organiser
    )
    assert upload("npz", user=organiser, phase_=phase).status == Submission.Status.FINISHED


# --- granting organiser rights ------------------------------------------------------------------------------

BUNDLE = """
challenge: {slug: bundled, title: Bundled}
datasets: [MSRVTT]
phases:
  - {slug: val, title: Validation, starts_at: "2020-01-01T00:00:00Z"}
organisers: [alice-org, bob-org]
"""


def test_bundle_lists_organisers_by_username_and_exports_them():
    alice, bob = UserFactory(username="alice-org", is_staff=True), UserFactory(username="bob-org")
    challenge = bundle_load(data=bundle_parse(BUNDLE))
    assert set(challenge.organisers.all()) == {alice, bob}
    exported = yaml.safe_load(bundle_dump(challenge=challenge))
    assert exported["organisers"] == ["alice-org", "bob-org"]
    again = bundle_load(data=exported)  # idempotent
    assert again.id == challenge.id and again.organisers.count() == 2
    with pytest.raises(BundleError) as caught:
        bundle_load(data=bundle_parse(BUNDLE.replace("bob-org", "nobody")))
    assert any("organisers[1]" in p and "nobody" in p for p in caught.value.problems)


def test_bundle_loads_need_the_challenge_organisers_or_staff_to_create(organiser, challenge, other):
    staff = UserFactory(username="support", is_staff=True)
    UserFactory(username="alice-org")
    UserFactory(username="bob-org")
    created = bundle_load(data=bundle_parse(BUNDLE), user=staff)  # staff may create; becomes an organiser
    assert staff in created.organisers.all()
    foreign = yaml.safe_load(bundle_dump(challenge=other["challenge"]))
    with pytest.raises(PermissionDeniedError):
        bundle_load(data=foreign, user=organiser)
    with pytest.raises(PermissionDeniedError):
        bundle_load(data=bundle_parse(BUNDLE.replace("bundled", "brand-new")), user=UserFactory(username="x"))
    response = _client(organiser).post(
        "/organiser/bundle/", {"bundle": yaml.safe_dump(foreign), "action": "load"}
    )
    assert response.status_code == 403
    other["challenge"].refresh_from_db()
    assert organiser not in other["challenge"].organisers.all()


def test_challenge_upsert_adds_organisers(challenge):
    from challenge.services import challenge_upsert

    org = UserFactory(username="new-org", is_staff=True)
    challenge_upsert(slug=challenge.slug, title=challenge.title, organisers=[org])
    challenge_upsert(slug=challenge.slug, title=challenge.title)  # keeps them
    assert list(challenge.organisers.all()) == [org]


def test_staff_creating_a_challenge_in_the_admin_becomes_its_organiser():
    staff = UserFactory(username="support", is_staff=True)
    client = _client(staff)
    response = client.post(
        "/admin/challenge/challenge/add/",
        {
            "slug": "fresh",
            "title": "Fresh",
            "summary": "",
            "description": "",
            "rules": "",
            "is_public": "on",
            "primary_metric": "geometric_mean_R1-R5-R10",
            "score_decimals": "2",
            "terms_version": "0",
            "pages": "[]",
            "datasets-TOTAL_FORMS": "0",
            "datasets-INITIAL_FORMS": "0",
            "datasets-MIN_NUM_FORMS": "0",
            "datasets-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    fresh = Challenge.objects.get(slug="fresh")
    assert list(fresh.organisers.all()) == [staff]
    assert client.get(f"/admin/challenge/challenge/{fresh.id}/change/").status_code == 200
    assert Team.objects.count() == 0
