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
