"""Organiser tools: YAML bundles, re-score diff, moderation, team approval, metadata export, quota
refunds, publishing; participants' public choice lock and notification emails."""

from __future__ import annotations

import csv
import io

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import UserProfile
from challenge.bundle import BundleError, bundle_dump, bundle_load, bundle_parse, bundle_validate
from challenge.exceptions import QuotaExceededError
from challenge.models import Challenge, Phase, Submission, Team
from challenge.organiser import submission_moderate, submission_quota_refund
from challenge.services import submission_update, team_create
from core.exceptions import ApplicationError, PermissionDeniedError
from leaderboard.models import LeaderboardSnapshot
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BUNDLE = """
challenge:
  slug: tiny-pentathlon
  title: Tiny Pentathlon
  summary: Two datasets.
  primary_metric: R1
  higher_is_better: true
  score_decimals: 3
  teams_need_approval: true
pages:
  - {slug: data, title: Data, body: "Download the features."}
datasets:
  - MSRVTT
  - {name: MSVD, description: Short clips}
phases:
  - slug: val
    title: Validation
    starts_at: 2020-03-01T00:00:00Z
    max_submissions_per_day: 5
    allowed_formats: [npz, zip]
  - slug: test
    title: Test
    starts_at: 2020-05-01T00:00:00Z
    ends_at: 2020-06-01T00:00:00Z
    max_submissions_total: 3
    aggregation: sum
    leaderboard_visibility: hidden
    final_submission: selected
    intervals_enabled: false
    interval_level: 0.9
"""


@pytest.fixture
def organiser_client(organiser):
    client = Client()
    client.force_login(organiser)
    return client


def test_bundle_load_creates_everything_and_export_round_trips(db):
    challenge = bundle_load(data=bundle_parse(BUNDLE))
    assert (challenge.primary_metric, challenge.score_decimals, challenge.teams_need_approval) == (
        "R1",
        3,
        True,
    )
    assert challenge.pages == [{"slug": "data", "title": "Data", "body": "Download the features."}]
    assert list(challenge.datasets.values_list("name", flat=True)) == ["MSRVTT", "MSVD"]
    test = challenge.phases.get(slug="test")
    assert (
        test.max_submissions_total,
        test.aggregation,
        test.leaderboard_visibility,
        test.final_submission,
    ) == (3, "sum", "hidden", "selected")
    assert (test.intervals_enabled, test.interval_level) == (False, 0.9)
    val = challenge.phases.get(slug="val")
    assert (val.intervals_enabled, val.interval_level) == (True, 0.95)  # the defaults
    exported = bundle_dump(challenge=challenge)
    assert "interval_level: 0.9" in exported
    again = bundle_load(data=yaml.safe_load(exported))  # idempotent: the same rows, updated in place
    assert again.id == challenge.id and Challenge.objects.count() == 1 and again.phases.count() == 2
    assert yaml.safe_load(bundle_dump(challenge=again)) == yaml.safe_load(exported)
    assert test.publish_query_text and "publish_query_text: true" in exported
    withheld = yaml.safe_load(exported)
    withheld["phases"][1]["publish_query_text"] = False
    assert not bundle_load(data=withheld).phases.get(slug=withheld["phases"][1]["slug"]).publish_query_text
    withheld["phases"][1]["publish_query_text"] = "sometimes"
    assert any("publish_query_text" in problem for problem in bundle_validate(data=withheld))


def test_bundle_validation_reports_every_problem_at_once(db):
    data = bundle_parse(BUNDLE)
    data["challenge"]["primary_metric"] = "accuracy"
    data["challenge"]["colour"] = "blue"
    data["datasets"].append("MSRVTT")
    data["phases"][0]["starts_at"] = "next tuesday"
    data["phases"][1]["ends_at"] = "2020-04-01T00:00:00Z"
    data["phases"][1]["aggregation"] = "median"
    data["phases"][1]["allowed_formats"] = ["mp4"]
    problems = bundle_validate(data=data)
    joined = "\n".join(problems)
    for expected in (
        "challenge.primary_metric",
        "unknown key 'colour'",
        "datasets[2].name: 'MSRVTT' appears twice",
        "phases[0].starts_at",
        "phases[1].ends_at: must be after starts_at",
        "phases[1].aggregation: Value 'median' is not a valid choice; expected one of mean, sum.",
        "phases[1].allowed_formats",
    ):
        assert expected in joined, expected
    with pytest.raises(BundleError):
        bundle_load(data=data)
    assert not Challenge.objects.exists()


def test_bundle_direction_follows_the_primary_metric(db):
    data = bundle_parse(BUNDLE)
    data["challenge"]["primary_metric"] = "MedR"  # lower is better: `higher_is_better: true` contradicts it
    problems = bundle_validate(data=data)
    assert problems == [
        "challenge.higher_is_better: the primary metric MedR ranks lower values first (higher_is_better: "
        "false) and the direction follows the metric; write false or leave the key out, or choose a "
        "primary_metric that ranks the other way"
    ]
    with pytest.raises(BundleError):
        bundle_load(data=data)
    data["challenge"]["higher_is_better"] = "no"
    assert bundle_validate(data=data) == [
        "challenge.higher_is_better: give true or false, or leave it out, not 'no'"
    ]
    data["challenge"]["higher_is_better"] = False  # agreeing: accepted, and nothing is stored
    assert bundle_load(data=data).higher_is_better is False
    del data["challenge"]["higher_is_better"]
    challenge = bundle_load(data=data)
    assert challenge.higher_is_better is False
    assert "higher_is_better" not in bundle_dump(challenge=challenge)


def test_bundle_command_validate_load_export(tmp_path):
    path = tmp_path / "bundle.yaml"
    path.write_text(BUNDLE)
    out = io.StringIO()
    call_command("challenge_bundle", "validate", str(path), stdout=out)
    call_command("challenge_bundle", "load", str(path), stdout=out)
    call_command(
        "challenge_bundle", "export", "tiny-pentathlon", "-o", str(tmp_path / "out.yaml"), stdout=out
    )
    assert "valid" in out.getvalue() and "Loaded 'tiny-pentathlon'" in out.getvalue()
    assert yaml.safe_load((tmp_path / "out.yaml").read_text())["challenge"]["slug"] == "tiny-pentathlon"
    path.write_text("challenge: {slug: x}\n")
    with pytest.raises(CommandError, match="problem"):
        call_command("challenge_bundle", "validate", str(path))


def test_bundle_page_validates_loads_and_exports(organiser_client):
    bad = organiser_client.post("/organiser/bundle/", {"bundle": "challenge: {}\n", "action": "validate"})
    assert bad.status_code == 400 and "problems" in bad.content.decode()
    response = organiser_client.post("/organiser/bundle/", {"bundle": BUNDLE, "action": "load"})
    assert response.status_code == 302 and Challenge.objects.filter(slug="tiny-pentathlon").exists()
    export = organiser_client.get("/organiser/c/tiny-pentathlon/bundle.yaml")
    assert yaml.safe_load(export.content)["phases"][1]["slug"] == "test"
    assert Client().get("/organiser/bundle/").status_code == 302  # staff only


def test_rescore_shows_a_before_after_diff(
    organiser_client, upload, phase, django_capture_on_commit_callbacks
):
    upload("npz", seed=1)
    response = organiser_client.get(f"/organiser/phases/{phase.id}/rescore/")
    assert "No re-score yet" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = organiser_client.post(f"/organiser/phases/{phase.id}/rescore/", {"reason": "fixed MSVD"})
    assert response.status_code == 302
    snapshot = LeaderboardSnapshot.objects.get(phase=phase)
    assert snapshot.reason == "fixed MSVD" and snapshot.rows[0]["team"] == "Alpha"
    html = organiser_client.get(f"/organiser/phases/{phase.id}/rescore/").content.decode()
    assert "Before / after" in html and "diff-same" in html
    from leaderboard.models import Result
    from leaderboard.services import leaderboard_diff

    Result.objects.filter(submission__phase=phase).update(
        primary_score=1.0
    )  # as if the fix changed the scores
    line = leaderboard_diff(phase=phase)["rows"][0]
    assert line["status"] == "changed" and line["after_score"] == 1.0 and line["delta"] < 0


def test_moderation_needs_a_reason_and_is_shown_to_the_team(organiser_client, upload, participant):
    submission = upload("npz", seed=1)
    with pytest.raises(ApplicationError, match="reason"):
        submission_moderate(submission=submission, moderation="disqualified", reason=" ")
    response = organiser_client.post(
        f"/organiser/submissions/{submission.id}/moderate/",
        {"moderation": "disqualified", "reason": "used the test labels"},
    )
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.moderation == "disqualified"
    member = Client()
    member.force_login(participant)
    assert (
        "Disqualified: used the test labels" in member.get(f"/submissions/{submission.id}/").content.decode()
    )
    assert Client().get(f"/api/v1/phases/{submission.phase_id}/leaderboard/").json()["entries"] == []


def test_teams_need_approval_before_submitting(challenge, phase, make_submission_file, organiser_client):
    from django.core.files import File

    from challenge.services import submission_create

    challenge.teams_need_approval = True
    challenge.save()
    user = UserFactory(username="newcomer")
    team = team_create(challenge=challenge, user=user, name="Newcomers")
    assert team.is_approved is False
    path = make_submission_file("npz")
    with pytest.raises(PermissionDeniedError, match="approval"), open(path, "rb") as handle:
        submission_create(user=user, phase=phase, file=File(handle, name=path.name), method_name="m")
    assert "Newcomers" in organiser_client.get(f"/organiser/c/{challenge.slug}/").content.decode()
    organiser_client.post(f"/organiser/teams/{team.id}/approve/", {"approved": "1"})
    assert Team.objects.get(id=team.id).is_approved
    Team.objects.filter(id=team.id).update(is_approved=False)
    organiser_client.post("/admin/challenge/team/", {"action": "approve", "_selected_action": [team.id]})
    assert Team.objects.get(id=team.id).is_approved  # the admin action too


def test_submissions_metadata_csv(organiser_client, upload, phase):
    first = upload("npz", seed=1, description="first try")
    response = organiser_client.get(f"/organiser/phases/{phase.id}/submissions.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(int(r["id"]), r["team"], r["status"]) for r in rows] == [(first.id, "Alpha", "finished")]
    assert float(rows[0]["overall_score"]) > 0 and rows[0]["checksum_sha256"] == first.checksum_sha256
    assert Client().get(f"/organiser/phases/{phase.id}/submissions.csv").status_code == 302


def test_quota_refund_gives_the_submission_back(upload, hidden_phase, organiser_client):
    subs = [upload("npz", seed=s, phase_=hidden_phase) for s in range(3)]
    with pytest.raises(QuotaExceededError):
        upload("npz", seed=9, phase_=hidden_phase)
    with pytest.raises(ApplicationError, match="why"):
        submission_quota_refund(submission=subs[0], reason="")
    organiser_client.post(
        f"/organiser/submissions/{subs[0].id}/refund/", {"reason": "scored with a wrong file"}
    )
    assert Submission.objects.get(id=subs[0].id).quota_refunded
    assert upload("npz", seed=9, phase_=hidden_phase).status == Submission.Status.FINISHED


def test_publish_in_one_action_and_three_visibility_levels(
    organiser_client, upload, hidden_phase, participant, django_capture_on_commit_callbacks
):
    submission = upload("npz", seed=1, phase_=hidden_phase)
    member = Client()
    member.force_login(participant)
    page = f"/submissions/{submission.id}/"
    board = f"/api/v1/phases/{hidden_phase.id}/leaderboard/"
    assert "hidden until the organisers publish" in member.get(page).content.decode()
    organiser_client.post(f"/organiser/phases/{hidden_phase.id}/publish/", {"visibility": "owners"})
    assert "Overall score" in member.get(page).content.decode()  # the team sees its own scores
    assert Client().get(board).json()["entries"] == []  # but there is no public board yet
    with django_capture_on_commit_callbacks(execute=True):  # the request's transaction commits
        organiser_client.post(f"/organiser/phases/{hidden_phase.id}/publish/", {"visibility": "public"})
    assert Phase.objects.get(id=hidden_phase.id).results_published
    assert Client().get(board).json()["entries"][0]["submission_id"] == submission.id


def test_organiser_lock_stops_participants_changing_the_public_flag(
    upload, participant, phase, organiser_client
):
    phase.final_submission = phase.FinalSubmission.SELECTED
    phase.save()
    submission = upload("npz", seed=1)
    organiser_client.post(f"/organiser/phases/{phase.id}/lock/", {"locked": "1"})
    submission.phase.refresh_from_db()
    with pytest.raises(ApplicationError, match="locked"):
        submission_update(submission=submission, user=participant, is_public=False)
    submission_update(submission=submission, user=participant, is_final=True)  # the final choice stays open


def test_scorer_stores_a_rank_histogram_and_the_charts_api_serves_it(upload, participant):
    submission = upload("npz", seed=1)
    dataset_rows = submission.result.dataset_results.all()
    assert {d.dataset for d in dataset_rows} == {"MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"}
    for d in dataset_rows:
        assert sum(d.rank_histogram["counts"]) == submission.result.metrics[d.dataset]["num_queries"]
        assert d.r1 == submission.result.metrics[d.dataset]["t2v"]["R1"]
    client = Client()
    client.force_login(participant)
    data = client.get(f"/api/v1/submissions/{submission.id}/charts/").json()
    assert data["visible"] and data["datasets"][0]["rank_histogram"]["labels"][0] == "1"
    html = client.get(f"/submissions/{submission.id}/").content.decode()
    assert "vendor/chart.umd.min.js" in html and 'id="rank-chart"' in html


def test_primary_metric_of_the_challenge_sets_the_dataset_and_overall_scores(challenge, upload):
    challenge.primary_metric = "R10"
    challenge.save()
    submission = upload("npz", seed=1)
    result = submission.result
    r10 = [result.metrics[name]["t2v"]["R10"] for name in result.metrics]
    assert result.primary_score == pytest.approx(sum(r10) / len(r10))
    assert {d.score for d in result.dataset_results.all()} == set(r10)


def test_no_email_reaches_an_address_that_is_not_verified(upload, participant, mailoutbox, phase):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=participant, email=participant.email, primary=True, verified=False)
    upload("npz", seed=1)
    assert mailoutbox == []
    EmailAddress.objects.filter(user=participant).update(verified=True)
    upload("npz", seed=2)
    assert [m.to for m in mailoutbox] == [[participant.email]]


def test_email_when_a_submission_finishes_or_fails_with_opt_out(upload, participant, mailoutbox, phase):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=participant, email=participant.email, primary=True, verified=True)
    upload("npz", seed=1)
    assert len(mailoutbox) == 1 and "finished" in mailoutbox[0].subject
    assert mailoutbox[0].to == [participant.email] and "Overall score" in mailoutbox[0].body
    from challenge.models import Submission as S
    from leaderboard.services.evaluate import _fail

    failing = upload("npz", seed=2)
    mailoutbox.clear()
    S.objects.filter(id=failing.id).update(status=S.Status.RUNNING)
    from leaderboard.models import Result

    Result.objects.filter(submission_id=failing.id).delete()
    _fail(row={"id": failing.id, "status": S.Status.RUNNING}, message="broken file")
    assert len(mailoutbox) == 1 and "failed" in mailoutbox[0].subject and "broken file" in mailoutbox[0].body
    mailoutbox.clear()
    client = Client()
    client.force_login(participant)
    assert client.get("/accounts/profile/").status_code == 200
    client.post("/accounts/profile/", {"email": participant.email})  # checkbox unticked: opt out
    assert UserProfile.objects.get(user=participant).email_notifications is False
    upload("npz", seed=3)
    assert mailoutbox == []


def test_a_bundle_that_changes_a_phases_interval_setting_asks_for_a_refresh(db, monkeypatch):
    refreshed = []
    monkeypatch.setattr(
        "challenge.bundle.intervals_refresh_on_commit", lambda phase_id: refreshed.append(phase_id)
    )
    challenge = bundle_load(data=bundle_parse(BUNDLE))
    assert refreshed == []  # new phases have nothing to refresh
    bundle_load(data=bundle_parse(BUNDLE))
    assert refreshed == []  # unchanged settings
    bundle_load(data=bundle_parse(BUNDLE.replace("interval_level: 0.9", "interval_level: 0.8")))
    assert refreshed == [challenge.phases.get(slug="test").id]
