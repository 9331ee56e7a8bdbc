"""A new participant's journeys, in chromium: sign up and confirm the address, reset a forgotten password,
run a team, find and download the kit, submit through the form and read the results, meet a closed phase,
send a file again (direct and chunked) and follow the link to the earlier submission."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone
from playwright.sync_api import expect

from challenge.models import ChunkedUpload, Team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSPHRASE = "a-long-passphrase-9"


def _link(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/\S+/)", body).group(1)


def _sign_up(page, username: str) -> None:
    page.goto("/")
    page.click("header >> text=Sign up")
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.org")
    page.fill("#id_password1", PASSPHRASE)
    page.fill("#id_password2", PASSPHRASE)
    page.click("main button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"Welcome, {username}")


def test_sign_up_confirm_the_address_and_reset_a_forgotten_password(page, mailoutbox, challenge):
    _sign_up(page, "carol")
    (confirmation,) = mailoutbox
    page.goto("/accounts/profile/")
    expect(page.locator("#email-status")).to_contain_text("Not confirmed yet")
    page.goto(_link(confirmation.body))
    page.click("main button[type=submit]")
    assert EmailAddress.objects.get(email="carol@example.org").verified
    page.goto("/accounts/profile/")
    expect(page.locator("#email-status")).to_contain_text("Confirmed")

    page.click("header >> text=Log out")
    page.goto("/accounts/login/")
    page.click("text=Forgot your password?")
    page.fill("input[name=email]", "carol@example.org")
    page.click("main button[type=submit]")
    reset = mailoutbox[-1]
    assert reset.to == ["carol@example.org"] and "/accounts/password/reset/key/" in reset.body
    page.goto(_link(reset.body))
    page.fill("input[name=password1]", "another-long-passphrase-4")
    page.fill("input[name=password2]", "another-long-passphrase-4")
    page.click("main button[type=submit]")
    page.goto("/accounts/login/")
    page.fill("#id_login", "carol")
    page.fill("#id_password", "another-long-passphrase-4")
    page.click("main button[type=submit]")
    expect(page.locator("header")).to_contain_text("carol")
    expect(page.locator("header")).to_contain_text("Log out")


def test_create_and_manage_a_team(page, new_page, challenge):
    _sign_up(page, "owner1")
    page.goto("/c/video-pentathlon/")
    page.click("text=Create or join a team")
    page.fill("#id_name", "Gamma")
    page.click("text=Create team")
    expect(page.locator("h1")).to_have_text("Team Gamma")
    code = page.locator("[data-role=invite-code]").inner_text()

    friend = new_page()
    _sign_up(friend, "friend1")
    friend.goto("/c/video-pentathlon/team/")
    friend.fill("#id_invite_code", code)
    friend.click("text=Join team")
    expect(friend.locator(".messages")).to_contain_text("You joined team 'Gamma'")

    page.reload()
    expect(page.locator("li[data-member=friend1]")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=New invite code")
    expect(page.locator(".messages")).to_contain_text("previous one no longer works")
    assert page.locator("[data-role=invite-code]").inner_text() != code
    page.fill("#id_rename", "Gamma Ray")
    page.click("main button:has-text('Rename')")
    expect(page.locator("h1")).to_have_text("Team Gamma Ray")
    page.once("dialog", lambda dialog: dialog.dismiss())  # thought better of it: nothing happens
    page.click("li[data-member=friend1] >> text=Remove")
    expect(page.locator("li[data-member=friend1]")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("li[data-member=friend1] >> text=Remove")
    expect(page.locator(".messages")).to_contain_text("friend1 was removed from the team")
    assert list(Team.objects.get(name="Gamma Ray").members.values_list("username", flat=True)) == ["owner1"]


def test_find_the_kit_submit_through_the_form_and_read_the_results(page, phase, make_submission_file):
    _sign_up(page, "dora")
    page.goto("/c/video-pentathlon/team/")
    page.fill("#id_name", "Delta")
    page.click("text=Create team")
    page.goto("/c/video-pentathlon/")
    card = page.locator("article[data-phase=val]")
    expect(card.locator("[data-role=phase-state]")).to_have_text("Open")
    with page.expect_download() as download:
        card.locator("[data-role=kit]").click()
    assert download.value.suggested_filename == "video-pentathlon-val-starter-kit.zip"
    readme = page.request.get(card.locator("[data-role=kit-readme]").get_attribute("href"))
    assert readme.ok and "queries.txt" in readme.text()

    card.locator("[data-role=submit]").click()
    expect(page.locator("h1")).to_have_text("Submit to Validation")
    expect(page.locator("main")).to_contain_text("What to submit")
    expect(page.locator("main table")).to_contain_text("MSRVTT")
    path = make_submission_file("npz", seed=4)
    page.set_input_files("#id_file", str(path))
    page.fill("#id_method_name", "Form CE")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.locator("[data-role=status]")).to_have_text("Finished")
    expect(page.locator("main")).to_contain_text("MSRVTT")
    expect(page.locator("main table.metrics").first).to_contain_text("text→video")
    submission_url = page.url

    # the same file again: refused with a link to the first one, which leads back to it
    page.goto("/c/video-pentathlon/val/submit/")
    page.set_input_files("#id_file", str(path))
    page.fill("#id_method_name", "Form CE again")
    page.click("#upload-form button[type=submit]")
    # the refusal sits just above the button used, and the form keeps the chosen file
    expect(page.locator("#upload-error")).to_contain_text("Your team already submitted this file")
    alert = page.locator("#upload-error").bounding_box()
    button = page.locator("#upload-form button[type=submit]").bounding_box()
    assert 0 <= button["y"] - (alert["y"] + alert["height"]) <= 40, (alert, button)
    assert page.eval_on_selector("#id_file", "e => e.files.length") == 1
    assert page.input_value("#id_method_name") == "Form CE again"
    page.locator("#upload-error [data-role=duplicate-link]").click()
    page.wait_for_url(submission_url)
    expect(page.locator("[data-role=status]")).to_have_text("Finished")
    page.wait_for_load_state("networkidle")  # the charts' API calls end before the database is flushed


def test_a_closed_phase_offers_no_submission(page, phase):
    phase.starts_at = timezone.now() - timedelta(days=9)
    phase.ends_at = timezone.now() - timedelta(days=2)
    phase.save()
    _sign_up(page, "erin")
    page.goto("/c/video-pentathlon/team/")
    page.fill("#id_name", "Epsilon")
    page.click("text=Create team")
    page.goto("/c/video-pentathlon/")
    card = page.locator("article[data-phase=val]")
    expect(card.locator("[data-role=phase-state]")).to_have_text("Closed")
    expect(card.locator("[data-role=submit]")).to_have_count(0)
    page.goto("/c/video-pentathlon/val/submit/")
    expect(page.locator("[data-role=closed]")).to_contain_text("no longer accepts submissions")
    expect(page.locator("#upload-form")).to_have_count(0)


def test_a_big_file_goes_in_chunks_and_the_same_file_again_is_refused_with_a_link(
    page, phase, make_submission_file, settings
):
    settings.UPLOAD_CHUNKED_THRESHOLD = 1024  # every file takes the chunked path of static/js/upload.js
    settings.UPLOAD_CHUNK_BYTES = 4096
    _sign_up(page, "erin")
    page.goto("/c/video-pentathlon/team/")
    page.fill("#id_name", "Epsilon")
    page.click("text=Create team")
    path = make_submission_file("npz", seed=5)
    assert path.stat().st_size > 2 * 4096
    page.goto("/c/video-pentathlon/val/submit/")
    page.set_input_files("#id_file", str(path))
    page.fill("#id_method_name", "Chunked CE")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    first = page.url
    expect(page.locator("[data-role=status]")).to_have_text("Finished")
    page.goto("/c/video-pentathlon/val/submit/")
    page.set_input_files("#id_file", str(path))
    page.fill("#id_method_name", "Chunked CE again")
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#upload-error")).to_contain_text("Your team already submitted this file")
    # both went through the chunked API; the browser declares no sha256, so completion refused the second
    uploads = ChunkedUpload.objects.order_by("created_at")
    assert [u.submission_id is not None for u in uploads] == [True, False]
    page.locator("#upload-error [data-role=duplicate-link]").click()
    page.wait_for_url(first)
    expect(page.locator("[data-role=status]")).to_have_text("Finished")
    page.wait_for_load_state("networkidle")


def test_the_rank_chart_fits_each_gallery_and_reads_old_histograms(page, upload, participant, password):
    from leaderboard.models import DatasetResult

    submission = upload("codalab")  # top-k lists: queries whose video is not listed go "beyond top-k"
    assert submission.status == "finished"
    page.goto(f"/accounts/login/?next=/submissions/{submission.id}/")
    page.fill("#id_login", participant.username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    expect(page.locator("#rank-chart[data-rendered='1']")).to_have_count(1)
    rows = page.locator("details.chart-data[data-for='rank-chart'] tbody th")
    labels = rows.all_text_contents()
    assert labels[0] == "1" and labels[-1].startswith("beyond top-"), labels
    assert not any(">" in label for label in labels), labels
    # a histogram stored before the bins fitted the gallery still charts, its ">1000" bin in rank order
    old = {
        "labels": [
            "1",
            "2",
            "3-5",
            "6-10",
            "11-20",
            "21-50",
            "51-100",
            "101-200",
            "201-500",
            "501-1000",
            ">1000",
        ],
        "counts": [5, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2],
    }
    DatasetResult.objects.filter(result__submission=submission, dataset="MSRVTT").update(rank_histogram=old)
    page.reload()
    expect(page.locator("#rank-chart[data-rendered='1']")).to_have_count(1)
    labels = rows.all_text_contents()
    assert labels.index("501-1000") < labels.index(">1000") < len(labels) - 1, labels
    assert labels[-1].startswith("beyond top-"), labels
    page.wait_for_load_state("networkidle")
