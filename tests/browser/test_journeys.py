"""Browser journeys: sign up, team, upload with progress, live status, result charts, leaderboard
sorting and the organiser publishing test results."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from challenge.models import Submission
from tests.factories import ResultFactory, SubmissionFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROGRESS_LOG = """
(() => {
  document.addEventListener("DOMContentLoaded", () => {
    const label = document.querySelector("#upload-progress .label");
    if (!label) return;
    new MutationObserver(() => {
      const log = JSON.parse(sessionStorage.getItem("progress") || "[]");
      log.push(label.textContent); sessionStorage.setItem("progress", JSON.stringify(log));
    }).observe(label, {childList: true, characterData: true, subtree: true});
  });
})();
"""


def test_sign_up_team_upload_live_status_and_charts(page, phase, make_submission_file):
    page.add_init_script(PROGRESS_LOG)
    page.goto("/accounts/signup/")
    page.fill("#id_username", "carol")
    page.fill("#id_email", "carol@example.org")
    page.fill("#id_password1", "a-long-passphrase-9")
    page.fill("#id_password2", "a-long-passphrase-9")
    page.click("button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Welcome, carol")

    page.goto("/c/video-pentathlon/team/")
    page.fill("#id_name", "Gamma")
    page.click("text=Create team")
    expect(page.locator("h1")).to_have_text("Team Gamma")

    page.goto("/c/video-pentathlon/val/submit/")
    page.set_input_files("#id_file", str(make_submission_file("npz", seed=3)))
    page.fill("#id_method_name", "Browser CE")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    progress = page.evaluate("JSON.parse(sessionStorage.getItem('progress') || '[]')")
    assert any(text.endswith("%") or text.startswith("Checking") for text in progress), progress
    expect(page.locator("[data-role=status]")).to_have_text("Finished")
    expect(page.locator("#recall-chart[data-rendered='1']")).to_have_count(1)
    expect(page.locator("#rank-chart[data-rendered='1']")).to_have_count(1)
    bars = page.evaluate("document.getElementById('recall-chart').chart.data.datasets.map(d => d.label)")
    assert bars == ["R@1", "R@5", "R@10"]

    # Live status: a queued submission's page follows the row until it is final, without a manual reload.
    team = Submission.objects.get(method_name="Browser CE").team
    queued = SubmissionFactory(team=team, phase=phase, status=Submission.Status.QUEUED, method_name="later")
    page.goto(f"/submissions/{queued.id}/")
    expect(page.locator("[data-role=status]")).to_have_text("Queued")
    Submission.objects.filter(id=queued.id).update(
        status=Submission.Status.RUNNING, progress={"stage": "scoring MSRVTT", "fraction": 0.4}
    )
    expect(page.locator("[data-role=progress]")).to_contain_text("scoring MSRVTT (40%)")
    Submission.objects.filter(id=queued.id).update(status=Submission.Status.FAILED, error_message="bad rows")
    expect(page.locator(".error-box")).to_contain_text("bad rows")


def _entry(team, phase, msrvtt, msvd):
    submission = SubmissionFactory(team=team, phase=phase, method_name=f"{team.name} method")
    metrics = {
        name: {
            "score": score,
            "t2v": {"R1": score / 2, "R5": score, "R10": score, "MedR": 100 - score, "MeanR": 100 - score},
            "v2t": None,
        }
        for name, score in (
            ("MSRVTT", msrvtt),
            ("MSVD", msvd),
            ("DiDeMo", 10.0),
            ("YouCook2", 10.0),
            ("ActivityNet", 10.0),
        )
    }
    return ResultFactory(submission=submission, metrics=metrics, primary_score=(msrvtt + msvd + 30) / 5)


def test_leaderboard_sorting_and_charts(page, phase):
    _entry(TeamFactory(challenge=phase.challenge, name="Alpha"), phase, 60.0, 20.0)
    _entry(TeamFactory(challenge=phase.challenge, name="Beta"), phase, 30.0, 40.0)
    page.goto("/c/video-pentathlon/val/leaderboard/")
    rows = page.locator("table.leaderboard tbody tr")
    expect(rows.first).to_have_attribute("data-team", "Alpha")
    page.click("th a[data-sort='MSVD:score']")
    expect(rows.first).to_have_attribute("data-team", "Beta")
    expect(page.locator("th.sorted")).to_contain_text("▼")
    page.click("th a[data-sort='MSVD:score']")
    expect(rows.first).to_have_attribute("data-team", "Alpha")
    expect(page.locator("th.sorted")).to_contain_text("▲")
    page.click("nav.boards >> text=MSRVTT")
    page.click("th a[data-sort='MSRVTT:MedR']")  # lower is better: ascending first
    expect(rows.first).to_have_attribute("data-team", "Alpha")
    page.goto("/c/video-pentathlon/val/leaderboard/")
    expect(page.locator("#history-chart[data-rendered='1']")).to_have_count(1)
    expect(page.locator("#compare-chart[data-rendered='1']")).to_have_count(1)


def test_organiser_publishes_test_results(page, new_page, hidden_phase, organiser, password):
    _entry(TeamFactory(challenge=hidden_phase.challenge, name="Alpha"), hidden_phase, 50.0, 50.0)
    visitor = new_page()
    visitor.goto("/c/video-pentathlon/test/leaderboard/")
    expect(visitor.locator("main")).to_contain_text("hidden until the organisers publish them")

    page.goto("/accounts/login/?next=/organiser/c/video-pentathlon/")
    page.fill("#id_login", organiser.username)
    page.fill("#id_password", password)
    page.click("main button[type=submit], main input[type=submit]")
    card = page.locator("article[data-phase='test']")
    expect(card.locator("[data-role=visibility]")).to_contain_text("Hidden")
    page.once("dialog", lambda dialog: dialog.accept())  # publishing asks first
    card.locator("[data-action=publish]").click()
    expect(page.locator("article[data-phase='test'] [data-role=visibility]")).to_contain_text("Public")

    visitor.reload()
    expect(visitor.locator("table.leaderboard tbody tr").first).to_have_attribute("data-team", "Alpha")
