"""An organiser's journeys, in chromium: upload ground truth from the dashboard, publish with a
confirmation, re-score and watch the diff settle by itself."""

from __future__ import annotations

import pytest
from django.core.files import File
from playwright.sync_api import expect

from challenge.models import Phase, Submission
from tests.factories import MembershipFactory, PhaseFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, user, password: str, next_url: str) -> None:
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("#id_login", user.username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_url(f"**{next_url}")


def test_upload_ground_truth_from_the_dashboard(page, challenge, organiser, password, tiny_truth_path):
    PhaseFactory(challenge=challenge, slug="final", title="Final")
    _log_in(page, organiser, password, "/organiser/c/video-pentathlon/")
    card = page.locator("article[data-phase=final]")
    expect(card.locator("[data-role=ground-truth]")).to_contain_text("missing")
    expect(card.locator("[data-role=phase-state]")).to_have_text("Not open yet")
    card.locator("input[type=file][name=file]").set_input_files(str(tiny_truth_path))
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("[data-action=ground-truth]").click()
    expect(page.locator(".messages")).to_contain_text("Final: ground truth stored for MSRVTT")
    expect(page.locator("article[data-phase=final] [data-role=ground-truth]")).to_contain_text("present")
    assert Phase.objects.get(slug="final").splits.count() == 5


def test_publish_asks_first(page, hidden_phase, organiser, password):
    _log_in(page, organiser, password, "/organiser/c/video-pentathlon/")
    card = page.locator("article[data-phase=test]")
    page.once("dialog", lambda dialog: dialog.dismiss())
    card.locator("[data-action=publish]").click()
    expect(card.locator("[data-role=visibility]")).to_contain_text("Hidden")
    assert Phase.objects.get(id=hidden_phase.id).leaderboard_visibility == "hidden"
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("[data-action=publish]").click()
    expect(page.locator("article[data-phase=test] [data-role=visibility]")).to_contain_text("Public")


def test_rescore_and_watch_the_diff_settle(
    page, phase, organiser, password, make_submission_file, monkeypatch
):
    from challenge.services import dispatch, submission_create
    from leaderboard.services.evaluate import submission_evaluate

    for name, seed in (("Alpha", 1), ("Beta", 2)):
        user = UserFactory(username=name.lower())
        MembershipFactory(team=TeamFactory(challenge=phase.challenge, name=name), user=user, role="owner")
        with open(make_submission_file("npz", seed=seed), "rb") as handle:
            submission_create(user=user, phase=phase, file=File(handle, name="s.npz"), method_name=name)
    assert set(Submission.objects.values_list("status", flat=True)) == {"finished"}
    sent: list[int] = []  # the re-score's messages are held back, as if the workers were busy
    monkeypatch.setattr(dispatch, "task_send", lambda name, args, **options: sent.append(args[0]))

    _log_in(page, organiser, password, f"/organiser/phases/{phase.id}/rescore/")
    page.fill("#rescore-reason", "browser test")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Re-score all submissions")
    expect(page.locator("[data-role=pending]")).to_contain_text("still being scored")
    expect(page.locator("tr[data-status=gone]")).to_have_count(0)
    assert len(sent) == 2
    for submission_id in sent:  # the workers catch up; the page follows without a reload
        submission_evaluate(submission_id=submission_id)
    expect(page.locator("[data-role=settled]")).to_be_visible(timeout=20_000)
    expect(page.locator("tr[data-status=same]")).to_have_count(2)
