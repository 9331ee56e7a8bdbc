"""The organiser console in the site: its front page, phase settings, the submissions table, teams and
participants, and the action log; each change checked on the pages participants see."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from challenge.models import Challenge, OrganiserAction, Phase, Submission, TeamMembership
from tests.factories import (
    ChallengeFactory,
    MembershipFactory,
    OrganiserFactory,
    ResultFactory,
    SubmissionFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(organiser):
    client = Client()
    client.force_login(organiser)
    return client


def _settings(phase: Phase, **changes) -> dict:
    """The phase's settings form as posted, with `changes`."""
    data = {
        "title": phase.title,
        "order": phase.order,
        "submission_kind": phase.submission_kind,
        "runtime": phase.runtime,
        "code_wall_limit_s": phase.code_wall_limit_s,
        "code_memory_limit_mb": phase.code_memory_limit_mb,
        "code_cpus": phase.code_cpus,
        "code_output_limit_mb": phase.code_output_limit_mb,
        "description": phase.description,
        "starts_at": phase.starts_at.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": phase.ends_at.strftime("%Y-%m-%dT%H:%M") if phase.ends_at else "",
        "max_submissions_per_day": phase.max_submissions_per_day or "",
        "max_submissions_total": phase.max_submissions_total or "",
        "allowed_formats": phase.allowed_formats,
        "aggregation": phase.aggregation,
        "final_submission": phase.final_submission,
        "leaderboard_visibility": phase.leaderboard_visibility,
        "query_order": phase.query_order,
        "interval_level": phase.interval_level,
        "evaluation_soft_limit_s": phase.evaluation_soft_limit_s or "",
        "evaluation_hard_limit_s": phase.evaluation_hard_limit_s or "",
    }
    for flag in ("intervals_enabled", "code_gpu", "code_show_output", "code_failures_count"):
        if getattr(phase, flag):
            data[flag] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_console_lists_the_user_challenges_and_the_header_leads_there(org, organiser, challenge):
    ChallengeFactory(slug="someone-else", title="Someone else's")
    body = org.get("/organiser/").content.decode()
    assert "Video Pentathlon" in body and "Someone else" not in body
    assert 'href="/organiser/">Organiser console</a>' in org.get("/").content.decode()
    participant = Client()
    participant.force_login(UserFactory())
    body = participant.get("/organiser/").content.decode()
    assert "You organise no challenge yet" in body
    assert "Organiser console</a>" not in participant.get("/").content.decode()
    assert Client().get("/organiser/").status_code == 302


def test_phase_dates_and_quota_change_through_the_form_and_show_to_participants(org, organiser, phase):
    ends = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    response = org.post(
        f"/organiser/phases/{phase.id}/settings/",
        _settings(phase, ends_at=ends.strftime("%Y-%m-%dT%H:%M"), max_submissions_per_day=4),
    )
    assert response.status_code == 302
    phase.refresh_from_db()
    assert phase.ends_at == ends and phase.max_submissions_per_day == 4
    page = Client().get("/c/video-pentathlon/").content.decode()
    assert ends.strftime("%Y-%m-%d %H:%M") in page and "4 per day" in page
    action = OrganiserAction.objects.get(action="phase settings")
    assert action.username == organiser.username and "max_submissions_per_day: none → 4" in action.detail
    assert "phase settings" in org.get("/organiser/c/video-pentathlon/log/").content.decode()


def test_a_bad_phase_setting_is_refused_next_to_its_field_and_nothing_changes(org, phase):
    before = phase.ends_at
    early = (phase.starts_at - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = org.post(f"/organiser/phases/{phase.id}/settings/", _settings(phase, ends_at=early))
    body = response.content.decode()
    assert (
        response.status_code == 400
        and 'data-error-for="ends_at"' in body
        and "must end after it starts" in body
    )
    phase.refresh_from_db()
    assert phase.ends_at == before and not OrganiserAction.objects.exists()


def test_another_challenge_organiser_gets_nothing(phase, challenge):
    other = Client()
    other.force_login(OrganiserFactory(organises=[ChallengeFactory()]))
    for url in (
        f"/organiser/phases/{phase.id}/settings/",
        "/organiser/c/video-pentathlon/submissions/",
        "/organiser/c/video-pentathlon/teams/",
        "/organiser/c/video-pentathlon/log/",
    ):
        assert other.get(url).status_code == 404, url


def test_the_submissions_table_filters_and_hides_with_a_reason_the_team_reads(org, phase, team, participant):
    mine = SubmissionFactory(team=team, phase=phase, method_name="visible one")
    ResultFactory(submission=mine, primary_score=21.5)
    other = SubmissionFactory(phase=phase, team__challenge=phase.challenge, status=Submission.Status.QUEUED)
    body = org.get(f"/organiser/c/video-pentathlon/submissions/?team={team.id}").content.decode()
    assert f'data-submission="{mine.id}"' in body and f'data-submission="{other.id}"' not in body
    body = org.get("/organiser/c/video-pentathlon/submissions/?status=queued&phase=val").content.decode()
    assert f'data-submission="{other.id}"' in body and f'data-submission="{mine.id}"' not in body
    assert org.get("/organiser/c/video-pentathlon/submissions/?team=nope").status_code == 400
    response = org.post(
        f"/organiser/submissions/{mine.id}/moderate/",
        {
            "moderation": "hidden",
            "reason": "Trained on the test videos",
            "next": "/organiser/c/video-pentathlon/submissions/",
        },
    )
    assert response["Location"] == "/organiser/c/video-pentathlon/submissions/"
    member = Client()
    member.force_login(participant)
    assert "Trained on the test videos" in member.get(f"/submissions/{mine.id}/").content.decode()
    board = Client().get("/c/video-pentathlon/val/leaderboard/").content.decode()
    assert "visible one" not in board
    org.post(f"/organiser/submissions/{other.id}/cancel/", {"reason": "duplicate by mistake"})
    other.refresh_from_db()
    assert other.status == Submission.Status.CANCELLED and "duplicate by mistake" in other.error_message
    assert list(OrganiserAction.objects.order_by("id").values_list("action", "target")) == [
        ("hidden", f"submission #{mine.id}"),
        ("cancel", f"submission #{other.id}"),
    ]


def test_teams_are_approved_and_members_removed_from_the_console(org, challenge, phase):
    challenge.teams_need_approval = True
    challenge.save()
    waiting = TeamFactory(challenge=challenge, name="Newcomers", is_approved=False)
    member = MembershipFactory(team=waiting, user=UserFactory(username="nina"), role="member")
    body = org.get("/organiser/c/video-pentathlon/teams/").content.decode()
    assert "Newcomers" in body and "nina" in body and "waiting" in body
    org.post(
        f"/organiser/teams/{waiting.id}/approve/",
        {"approved": "1", "next": "/organiser/c/video-pentathlon/teams/"},
    )
    waiting.refresh_from_db()
    assert waiting.is_approved
    org.post(f"/organiser/teams/{waiting.id}/remove-member/", {"member": member.user_id})
    assert not TeamMembership.objects.filter(id=member.id).exists()
    response = org.post(f"/organiser/teams/{waiting.id}/remove-member/", {"member": "x"}, follow=True)
    assert "not a member of team Newcomers" in response.content.decode()
    log = org.get("/organiser/c/video-pentathlon/log/").content.decode()
    assert "approve team" in log and "remove member" in log and "nina" in log


def test_a_phase_rescore_is_logged(org, organiser, phase):
    org.post(f"/organiser/phases/{phase.id}/rescore/", {"reason": "new scorer"})
    action = OrganiserAction.objects.get()
    assert (action.action, action.username) == ("re-score", organiser.username)
    assert "new scorer" in action.detail


def _phase_form(**changes) -> dict:
    """A new phase's form as a browser posts it (the model's defaults), with `changes`."""
    data = {
        "slug": "test",
        "title": "Test",
        "order": 1,
        "starts_at": "2030-01-01T00:00",
        "ends_at": "",
        "aggregation": Phase.Aggregation.MEAN,
        "final_submission": Phase.FinalSubmission.BEST,
        "leaderboard_visibility": Phase.LeaderboardVisibility.PUBLIC,
        "query_order": Phase.QueryOrder.BLIND,
        "interval_level": 0.95,
        "submission_kind": Phase.SubmissionKind.PREDICTIONS,
        "code_wall_limit_s": 600,
        "code_memory_limit_mb": 8192,
        "code_cpus": 2,
        "code_output_limit_mb": 1024,
        "code_failures_count": "on",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


CHALLENGE_FORM = {
    "slug": "new-one",
    "title": "New One",
    "summary": "Retrieval on two datasets",
    "rules": "1. One team per person.",
    "is_public": "on",
    "primary_metric": "R1",
    "score_decimals": 2,
    "terms_version": 0,
    "datasets": "MSRVTT, MSVD",
}


def test_staff_create_a_challenge_and_become_its_organiser(org, organiser, challenge):
    response = org.post("/organiser/new/", CHALLENGE_FORM)
    assert response.status_code == 302 and response["Location"] == "/organiser/c/new-one/"
    created = Challenge.objects.get(slug="new-one")
    assert list(created.datasets.values_list("name", flat=True)) == ["MSRVTT", "MSVD"]
    assert created.organisers.filter(id=organiser.id).exists() and created.primary_metric == "R1"
    assert "One team per person" in Client().get("/c/new-one/").content.decode()
    action = OrganiserAction.objects.get(challenge=created)
    assert (action.action, action.username) == ("create challenge", organiser.username)
    # the address is taken now: refused next to its field, nothing else created
    again = org.post("/organiser/new/", {**CHALLENGE_FORM, "title": "Copy"})
    assert again.status_code == 400 and 'data-error-for="slug"' in again.content.decode()
    assert Challenge.objects.filter(title="Copy").count() == 0


def test_only_staff_create_challenges(challenge):
    client = Client()
    client.force_login(UserFactory())
    assert client.get("/organiser/new/").status_code == 404
    assert client.post("/organiser/new/", CHALLENGE_FORM).status_code == 404
    assert not Challenge.objects.filter(slug="new-one").exists()


def test_challenge_settings_edit_rules_metric_and_datasets_and_are_logged(org, organiser, phase):
    form = org.get("/organiser/c/video-pentathlon/settings/").content.decode()
    assert "MSRVTT, MSVD, DiDeMo, YouCook2, ActivityNet" in form
    data = {
        **CHALLENGE_FORM,
        "title": "Video Pentathlon",
        "terms_version": 1,
        "rules": "Be kind.",
        "datasets": "MSRVTT, MSVD, DiDeMo",
    }
    data.pop("slug")
    # the phase's ground truth holds YouCook2 and ActivityNet: they cannot go
    refused = org.post("/organiser/c/video-pentathlon/settings/", data)
    assert (
        refused.status_code == 400 and "has ground truth in phase(s) Validation" in refused.content.decode()
    )
    assert phase.challenge.datasets.count() == 5
    data["datasets"] = "MSRVTT, MSVD, DiDeMo, YouCook2, ActivityNet, VATEX"
    assert org.post("/organiser/c/video-pentathlon/settings/", data).status_code == 302
    challenge = Challenge.objects.get(id=phase.challenge_id)
    assert challenge.rules == "Be kind." and challenge.primary_metric == "R1" and challenge.terms_version == 1
    assert challenge.datasets.filter(name="VATEX").exists()
    assert "Be kind." in Client().get("/c/video-pentathlon/").content.decode()
    detail = OrganiserAction.objects.get(action="challenge settings").detail
    assert "rules:" in detail and "terms_version: 0 → 1" in detail and "added VATEX" in detail


def test_a_phase_is_created_with_its_settings_and_refused_when_its_name_is_taken(org, organiser, phase):
    response = org.post(
        "/organiser/c/video-pentathlon/phases/new/",
        _phase_form(max_submissions_per_day=2, allowed_formats=["npz"], final_submission="selected"),
    )
    assert response.status_code == 302
    created = Phase.objects.get(challenge=phase.challenge, slug="test")
    assert (created.max_submissions_per_day, created.allowed_formats, created.final_submission) == (
        2,
        ["npz"],
        "selected",
    )
    page = Client().get("/c/video-pentathlon/").content.decode()
    assert 'data-phase="test"' in page and "2 per day" in page
    assert OrganiserAction.objects.get(action="create phase").target == "phase Test"
    taken = org.post("/organiser/c/video-pentathlon/phases/new/", _phase_form(slug="val"))
    assert taken.status_code == 400 and 'data-error-for="slug"' in taken.content.decode()
    bad = org.post(
        "/organiser/c/video-pentathlon/phases/new/",
        _phase_form(slug="code", submission_kind="code", code_wall_limit_s=100_000),
    )
    assert bad.status_code == 400 and 'data-error-for="code_wall_limit_s"' in bad.content.decode()
    assert not Phase.objects.filter(slug="code").exists()


def test_a_phase_kind_is_fixed_once_it_has_submissions(org, phase, team):
    SubmissionFactory(team=team, phase=phase)
    response = org.post(f"/organiser/phases/{phase.id}/settings/", _settings(phase, submission_kind="code"))
    assert response.status_code == 400 and "kind (code or predictions) can no longer change" in (
        response.content.decode()
    )
    phase.refresh_from_db()
    assert phase.submission_kind == Phase.SubmissionKind.PREDICTIONS


def test_ground_truth_uploaded_in_the_console_is_audited_and_logged(
    org, organiser, challenge, tiny_truth_path
):
    phase = Phase.objects.create(
        challenge=challenge, slug="test", title="Test", starts_at=timezone.now() - timedelta(days=1)
    )
    assert (
        "accepts no submission until it is uploaded"
        in org.get("/organiser/c/video-pentathlon/").content.decode()
    )
    with open(tiny_truth_path, "rb") as handle:
        response = org.post(f"/organiser/phases/{phase.id}/ground-truth/", {"file": handle}, follow=True)
    body = response.content.decode()
    assert "Test: ground truth stored for MSRVTT" in body
    assert 'data-role="ground-truth-splits"' in body and 'data-role="leak-audit"' in body
    action = OrganiserAction.objects.get(action="upload ground truth")
    phase.refresh_from_db()
    assert action.username == organiser.username and phase.ground_truth_sha256[:12] in action.detail
    assert 'data-phase="test"' in Client().get("/c/video-pentathlon/").content.decode()
    # a broken file is refused, stored nowhere and not logged
    response = org.post(
        f"/organiser/phases/{phase.id}/ground-truth/",
        {"file": SimpleUploadedFile("truth.h5", b"not hdf5")},
        follow=True,
    )
    assert "the ground truth was not stored" in response.content.decode()
    assert OrganiserAction.objects.filter(action__contains="ground truth").count() == 1


def _gallery_zip(name: str = "MSVD/features.npy", body: bytes = b"x" * 10) -> SimpleUploadedFile:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, body)
    return SimpleUploadedFile("gallery.zip", buffer.getvalue())


def test_gallery_inputs_are_uploaded_replaced_and_removed_from_the_console_and_logged(org, hidden_phase):
    Phase.objects.filter(id=hidden_phase.id).update(submission_kind=Phase.SubmissionKind.CODE)
    url = f"/organiser/phases/{hidden_phase.id}/gallery-inputs/"
    dashboard = f"/organiser/c/{hidden_phase.challenge.slug}/"
    assert 'data-role="gallery-inputs"' in org.get(dashboard).content.decode()
    page = org.post(url, {"file": _gallery_zip()}, follow=True).content.decode()
    hidden_phase.refresh_from_db()
    first = hidden_phase.gallery_inputs.name
    assert first.endswith(".zip") and "gallery inputs stored" in page
    org.post(url, {"file": _gallery_zip(body=b"y" * 20)})
    hidden_phase.refresh_from_db()
    assert hidden_phase.gallery_inputs.name not in ("", first)
    page = org.post(url, {"remove": "1"}, follow=True).content.decode()
    hidden_phase.refresh_from_db()
    assert not hidden_phase.gallery_inputs and "gallery inputs removed" in page
    logged = list(
        OrganiserAction.objects.filter(challenge=hidden_phase.challenge, action__contains="gallery")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert logged == ["upload gallery inputs", "replace gallery inputs", "remove gallery inputs"]


def test_a_refused_gallery_archive_says_why_and_changes_nothing(org, hidden_phase, phase):
    Phase.objects.filter(id=hidden_phase.id).update(submission_kind=Phase.SubmissionKind.CODE)
    url = f"/organiser/phases/{hidden_phase.id}/gallery-inputs/"
    page = org.post(url, {"file": _gallery_zip(name="../escape.npy")}, follow=True).content.decode()
    hidden_phase.refresh_from_db()
    assert not hidden_phase.gallery_inputs and "the gallery inputs were not stored" in page
    assert "Choose the .zip of gallery inputs" in org.post(url, {}, follow=True).content.decode()
    # a phase that takes predictions has no gallery inputs, and its card offers none
    refused = org.post(f"/organiser/phases/{phase.id}/gallery-inputs/", {"file": _gallery_zip()}, follow=True)
    assert "gallery inputs belong to code phases" in refused.content.decode()
    assert not OrganiserAction.objects.filter(action__contains="gallery").exists()


def test_only_the_challenges_organisers_may_upload_gallery_inputs(hidden_phase, participant):
    Phase.objects.filter(id=hidden_phase.id).update(submission_kind=Phase.SubmissionKind.CODE)
    client = Client()
    client.force_login(participant)
    response = client.post(f"/organiser/phases/{hidden_phase.id}/gallery-inputs/", {"file": _gallery_zip()})
    assert response.status_code in (403, 404)
    hidden_phase.refresh_from_db()
    assert not hidden_phase.gallery_inputs


def _challenge_form(challenge: Challenge, pages: list[dict], **extra) -> dict:
    """The settings form as posted, unchanged, with the pages formset holding `pages` (plus an empty
    extra form, as the browser sends it) and `extra` fields of the formset."""
    data = {
        **CHALLENGE_FORM,
        "title": challenge.title,
        "summary": challenge.summary,
        "rules": challenge.rules,
        "primary_metric": challenge.primary_metric,
        "terms_version": challenge.terms_version,
        "datasets": ", ".join(challenge.datasets.values_list("name", flat=True)),
        "pages-TOTAL_FORMS": len(pages) + 1,
        "pages-INITIAL_FORMS": len(challenge.pages or []),
        "pages-MIN_NUM_FORMS": 0,
        "pages-MAX_NUM_FORMS": 20,
    }
    data.pop("slug")
    if not challenge.is_public:
        data.pop("is_public")
    for i, page in enumerate(pages):
        data.update({f"pages-{i}-{key}": value for key, value in page.items()})
    data.update(extra)
    return data


def test_extra_pages_are_added_edited_and_removed_from_the_console_and_shown_to_everyone(org, phase):
    challenge = phase.challenge
    url = f"/organiser/c/{challenge.slug}/settings/"
    assert 'data-role="challenge-pages"' in org.get(url).content.decode()
    data = _challenge_form(
        challenge, [{"slug": "data", "title": "Data", "body": "Five datasets, test splits hidden."}]
    )
    assert org.post(url, data).status_code == 302
    challenge.refresh_from_db()
    assert challenge.pages == [
        {"slug": "data", "title": "Data", "body": "Five datasets, test splits hidden."}
    ]
    public = Client().get(f"/c/{challenge.slug}/").content.decode()
    assert '<section id="data"><h2>Data</h2>' in public and "Five datasets, test splits hidden." in public
    edited = [
        {"slug": "data", "title": "The data", "body": "Five datasets."},
        {"slug": "prizes", "title": "Prizes", "body": "Travel grants."},
    ]
    assert org.post(url, _challenge_form(challenge, edited)).status_code == 302
    challenge.refresh_from_db()
    assert [p["title"] for p in challenge.pages] == ["The data", "Prizes"]
    assert org.post(url, _challenge_form(challenge, edited, **{"pages-0-DELETE": "on"})).status_code == 302
    challenge.refresh_from_db()
    assert [p["slug"] for p in challenge.pages] == ["prizes"]
    details = list(
        OrganiserAction.objects.filter(challenge=challenge, action="challenge settings")
        .order_by("id")
        .values_list("detail", flat=True)
    )
    assert details[0] == "pages: none → Data" and details[-1] == "pages: The data, Prizes → Prizes"


def test_pages_that_clash_are_refused_next_to_the_form_and_nothing_changes(org, phase):
    challenge = phase.challenge
    url = f"/organiser/c/{challenge.slug}/settings/"
    twice = _challenge_form(challenge, [{"slug": "data", "title": "A"}, {"slug": "data", "title": "B"}])
    refused = org.post(url, twice)
    assert refused.status_code == 400 and "Two pages have the address 'data'" in unescape(
        refused.content.decode()
    )
    reserved = org.post(url, _challenge_form(challenge, [{"slug": "rules", "title": "Rules again"}]))
    assert reserved.status_code == 400 and "the challenge's own section" in unescape(
        reserved.content.decode()
    )
    bad = org.post(url, _challenge_form(challenge, [{"slug": "no spaces", "title": "T"}]))
    assert bad.status_code == 400
    challenge.refresh_from_db()
    assert challenge.pages == [] and not OrganiserAction.objects.filter(challenge=challenge).exists()


def test_settings_posted_without_the_pages_formset_keep_the_pages(org, phase):
    challenge = phase.challenge
    Challenge.objects.filter(id=challenge.id).update(pages=[{"slug": "data", "title": "Data", "body": "x"}])
    challenge.refresh_from_db()
    data = {k: v for k, v in _challenge_form(challenge, []).items() if not k.startswith("pages-")}
    data["rules"] = "New rules."
    assert org.post(f"/organiser/c/{challenge.slug}/settings/", data).status_code == 302
    challenge.refresh_from_db()
    assert challenge.rules == "New rules." and challenge.pages == [
        {"slug": "data", "title": "Data", "body": "x"}
    ]
