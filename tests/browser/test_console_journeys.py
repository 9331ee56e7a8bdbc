"""The organiser console, in chromium: change a phase's end date and quota, hide a submission with a
reason, approve a team, re-score and export, each checked on the pages participants see; axe-core
finds no serious or critical violation on the console's pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from challenge.models import Phase
from tests.browser.test_access import _axe
from tests.factories import MembershipFactory, ResultFactory, SubmissionFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/")


def test_an_organiser_runs_the_challenge_from_the_console(
    page, new_page, phase, organiser, password, monkeypatch
):
    from challenge.services import dispatch

    monkeypatch.setattr(dispatch, "task_send", lambda *args, **kwargs: None)  # workers busy: stays queued
    challenge = phase.challenge
    challenge.teams_need_approval = True
    challenge.save()
    alice = UserFactory(username="alice")
    team = TeamFactory(challenge=challenge, name="Alpha", is_approved=False)
    MembershipFactory(team=team, user=alice, role="owner")
    entry = SubmissionFactory(team=team, phase=phase, method_name="Leaky model")
    ResultFactory(submission=entry, primary_score=33.0)

    member = new_page()
    _log_in(member, "alice", password)
    member.goto("/c/video-pentathlon/team/")
    expect(member.locator("[data-role=approval]")).to_contain_text("awaits the organisers' approval")

    _log_in(page, organiser.username, password)
    page.click("header >> text=Organiser console")
    expect(page).to_have_url("/organiser/")
    problems = {"/organiser/": _axe(page)}
    page.click("[data-role=organised] >> text=Video Pentathlon")
    problems[page.url] = _axe(page)

    # phase settings: end date and quota
    page.click("article[data-phase=val] [data-action=phase-settings]")
    ends = (timezone.now() + timedelta(days=5)).replace(hour=18, minute=30, second=0, microsecond=0)
    page.fill("#id_ends_at", ends.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_max_submissions_per_day", "3")
    problems[page.url] = _axe(page)
    page.click("[data-action=save-phase]")
    expect(page.locator(".messages")).to_contain_text("Validation: settings saved")
    expect(page.locator("article[data-phase=val] [data-role=quota]")).to_contain_text("3 a day")
    member.goto("/c/video-pentathlon/")
    expect(member.locator("main")).to_contain_text(ends.strftime("%Y-%m-%d 18:30"))
    expect(member.locator("main")).to_contain_text("3 per day")

    # a bad end date is refused next to its field
    page.click("article[data-phase=val] [data-action=phase-settings]")
    page.fill("#id_ends_at", (phase.starts_at - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))
    page.click("[data-action=save-phase]")
    expect(page.locator("[data-error-for=ends_at]")).to_contain_text("must end after it starts")

    # the submissions table: hide the entry with a reason
    page.goto("/organiser/c/video-pentathlon/")
    page.click("nav.console-nav >> text=Submissions")
    problems[page.url] = _axe(page)
    row = page.locator(f"tr[data-submission='{entry.id}']")
    row.locator("select[name=moderation]").select_option("hidden")
    row.locator("input[name=reason]").fill("Trained on the test videos")
    row.locator("button[type=submit]").first.click()
    expect(page.locator(f"tr[data-submission='{entry.id}'] [data-role=moderation]")).to_contain_text(
        "Trained on the test videos"
    )
    member.goto(f"/submissions/{entry.id}/")
    expect(member.locator("[data-role=moderation]")).to_contain_text("Trained on the test videos")
    member.goto("/c/video-pentathlon/val/leaderboard/")
    expect(member.locator("table.leaderboard")).not_to_contain_text("Leaky model")

    # teams: approve
    page.click("nav.console-nav >> text=Teams and participants")
    problems[page.url] = _axe(page)
    page.click("tr[data-team=Alpha] [data-action=approve]")
    expect(page.locator("tr[data-team=Alpha] [data-role=approval]")).to_contain_text("yes")
    member.goto("/c/video-pentathlon/team/")
    expect(member.locator("[data-role=approval]")).to_have_count(0)

    # re-score: the team reads why its entry is queued again
    page.goto(f"/organiser/phases/{phase.id}/rescore/")
    page.fill("#rescore-reason", "fixed the MSVD ground truth")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Re-score all submissions")
    expect(page.locator(".messages")).to_contain_text("queued for re-scoring")
    member.goto(f"/submissions/{entry.id}/")
    expect(member.locator("[data-role=rescoring]")).to_contain_text("fixed the MSVD ground truth")

    # export: the submissions' metadata as CSV
    page.goto("/organiser/c/video-pentathlon/submissions/")
    with page.expect_download() as download:
        page.click("text=Validation submissions CSV")
    assert download.value.suggested_filename == "video-pentathlon-val-submissions.csv"
    text = open(download.value.path(), encoding="utf-8").read()
    assert "Leaky model" in text and "Trained on the test videos" in text

    # the log lists every action with who did it
    page.click("nav.console-nav >> text=Action log")
    problems[page.url] = _axe(page)
    for action in ("phase settings", "hidden", "approve team", "re-score"):
        expect(page.locator(f"tr[data-action='{action}']")).to_contain_text(organiser.username)
    found = {url: issues for url, issues in problems.items() if issues}
    assert not found, "\n".join(f"{url}: {issue}" for url, issues in found.items() for issue in issues)
    assert Phase.objects.get(id=phase.id).max_submissions_per_day == 3


def test_an_organiser_creates_a_challenge_and_a_phase_and_uploads_its_ground_truth(
    page, new_page, organiser, password, tiny_truth_path
):
    from challenge.models import Challenge

    _log_in(page, organiser.username, password)
    page.goto("/organiser/")
    page.click("[data-action=challenge-create]")
    problems = {page.url: _axe(page)}
    page.fill("#id_slug", "second-cup")
    page.fill("#id_title", "Second Cup")
    page.fill("#id_summary", "Text-to-video retrieval, second edition")
    page.fill("#id_rules", "1. One team per person.")
    page.fill("#id_datasets", "MSRVTT, MSVD, DiDeMo, YouCook2, ActivityNet")
    page.select_option("#id_primary_metric", "R5")
    page.click("[data-action=save-challenge]")
    expect(page.locator(".messages")).to_contain_text("Challenge 'Second Cup' created")
    expect(page).to_have_url("/organiser/c/second-cup/")
    problems[page.url] = _axe(page)

    # a phase: dates, quota, formats
    page.click("[data-action=phase-create]")
    problems[page.url] = _axe(page)
    opens = (timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
    page.fill("#id_slug", "val")
    page.fill("#id_title", "Validation")
    page.fill("#id_starts_at", opens.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_ends_at", (opens + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_max_submissions_per_day", "5")
    page.check("#id_allowed_formats input[value=npz]")
    page.click("[data-action=save-phase]")
    expect(page.locator(".messages")).to_contain_text("Validation: phase created")
    card = page.locator("article[data-phase=val]")
    expect(card.locator("[data-role=ground-truth]")).to_contain_text("missing")

    # change its end date and quota
    card.locator("[data-action=phase-settings]").click()
    ends = (timezone.now() + timedelta(days=9)).replace(hour=17, minute=45, second=0, microsecond=0)
    page.fill("#id_ends_at", ends.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_max_submissions_per_day", "2")
    page.click("[data-action=save-phase]")
    expect(page.locator(".messages")).to_contain_text("Validation: settings saved")
    expect(card.locator("[data-role=quota]")).to_contain_text("2 a day")

    # upload the ground truth; its datasets and audit show in the console
    card.locator("input[name=file]").set_input_files(str(tiny_truth_path))
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("[data-action=ground-truth]").click()
    expect(page.locator(".messages")).to_contain_text("Validation: ground truth stored for MSRVTT")
    expect(card.locator("[data-role=ground-truth]")).to_contain_text("present")
    expect(card.locator("[data-role=ground-truth-splits]")).to_contain_text("ActivityNet")
    expect(card.locator("[data-role=leak-audit]")).to_be_visible()
    problems[page.url] = _axe(page)

    # what participants see
    visitor = new_page()
    visitor.goto("/c/second-cup/")
    main = visitor.locator("main")
    expect(main).to_contain_text("One team per person")
    expect(main.locator("article[data-phase=val]")).to_contain_text(ends.strftime("%Y-%m-%d 17:45"))
    expect(main.locator("article[data-phase=val]")).to_contain_text("2 per day")
    expect(main.locator("article[data-phase=val]")).to_contain_text(".npz")
    expect(main.locator("article[data-phase=val] table")).to_contain_text("MSRVTT")
    expect(main.locator("article[data-phase=val] [data-role=kit]")).to_be_visible()

    page.goto("/organiser/c/second-cup/log/")
    problems[page.url] = _axe(page)
    for action in ("create challenge", "create phase", "phase settings", "upload ground truth"):
        expect(page.locator(f"tr[data-action='{action}']")).to_contain_text(organiser.username)
    found = {url: issues for url, issues in problems.items() if issues}
    assert not found, "\n".join(f"{url}: {issue}" for url, issues in found.items() for issue in issues)
    assert Challenge.objects.get(slug="second-cup").primary_metric == "R5"
