"""A participant accepts the challenge's rules in chromium before the kit appears; the acceptance time
shows in the visitor's zone with UTC beside it; axe-core finds nothing serious on the rules section."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from challenge.models import TermsAcceptance
from tests.browser.test_access import _axe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_participant_accepts_the_rules_and_sees_when_in_their_zone(
    browser, live_server, phase, participant, password
):
    challenge = phase.challenge
    challenge.rules = "1. No training on the test videos."
    challenge.terms_version = 3
    challenge.save()
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Tokyo")
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        page.fill("#id_login", participant.username)
        page.fill("#id_password", password)
        page.click("main button[type=submit]")
        page.wait_for_url("**/")
        page.goto("/c/video-pentathlon/")
        card = page.locator("article[data-phase=val]")
        expect(card.locator("[data-role=kit]")).to_have_count(0)
        expect(card.locator("[data-role=kit-note]")).to_contain_text("Accept the rules")
        problems = _axe(page)
        page.click("[data-action=accept-terms]")
        expect(page.locator(".messages")).to_contain_text("version 3")
        expect(card.locator("[data-role=kit]")).to_be_visible()
        accepted = TermsAcceptance.objects.get(user=participant).accepted_at
        when = page.locator("[data-role=terms] time")
        utc = accepted.strftime("%Y-%m-%d %H:%M") + " UTC"
        expect(when).to_contain_text("Asia/Tokyo")
        expect(when).to_contain_text(f"({utc})")
        # a table cell: compact, the zone's short name, UTC beside it (Tokyo is UTC+9, no summer time)
        from datetime import timedelta

        from challenge.models import Submission
        from tests.factories import SubmissionFactory

        entry = SubmissionFactory(team=participant.team_memberships.get().team, phase=phase)
        entry = Submission.objects.get(id=entry.id)
        page.goto("/c/video-pentathlon/submissions/")
        cell = page.locator(f"tr:has(a[href='/submissions/{entry.id}/']) time[data-local-time=cell]")
        tokyo = entry.created_at + timedelta(hours=9)
        expect(cell).to_have_text(f"{tokyo:%Y-%m-%d} {tokyo:%H:%M} GMT+9 ({entry.created_at:%H:%M} UTC)")
        assert not problems, problems
    finally:
        context.close()
