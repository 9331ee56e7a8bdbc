"""Layout and accessibility, in chromium: the leaderboard fits a 390 px phone without a horizontal page
scroll, and axe-core (vendored in tests/browser/vendor, injected locally: no network) finds no serious
or critical violation on the main pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import MembershipFactory, ResultFactory, SubmissionFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")


def _entries(phase, count: int = 6):
    """Scored entries with long names: the widest board a phone would meet."""
    submissions = []
    for i in range(count):
        team = TeamFactory(challenge=phase.challenge, name=f"Team with a rather long name {i}")
        submission = SubmissionFactory(
            team=team, phase=phase, method_name=f"Collaborative experts variant {i}"
        )
        metrics = {
            name: {
                "score": 40.0 + i,
                "t2v": {"R1": 10.0 + i, "R5": 30.0 + i, "R10": 40.0 + i, "MedR": 12.0, "MeanR": 80.5},
                "v2t": None,
            }
            for name in DATASETS
        }
        ResultFactory(submission=submission, metrics=metrics, primary_score=40.0 + i)
        submissions.append(submission)
    return submissions


def _no_horizontal_scroll(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")


def test_the_leaderboard_fits_a_phone_without_horizontal_page_scroll(browser, live_server, phase):
    _entries(phase)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        for board in ("", "?dataset=MSRVTT"):
            page.goto(f"/c/video-pentathlon/val/leaderboard/{board}")
            expect(page.locator("table.leaderboard tbody tr")).to_have_count(6)
            scroll_width, client_width = _no_horizontal_scroll(page)
            assert scroll_width <= client_width, (board, scroll_width, client_width)
            # the table itself scrolls inside its container
            inner = page.evaluate(
                "(() => { const c = document.querySelector('.table-scroll');"
                " return [c.scrollWidth, c.clientWidth]; })()"
            )
            assert inner[0] >= inner[1]
        # every chart has its numbers in a table (the charts' text alternative)
        page.goto("/c/video-pentathlon/val/leaderboard/")
        expect(page.locator("#compare-chart[data-rendered='1']")).to_have_count(1)
        expect(page.locator("details.chart-data[data-for=compare-chart] tbody tr")).to_have_count(5)
        expect(page.locator("details.chart-data[data-for=history-chart] table")).to_have_count(1)
    finally:
        context.close()


def _axe(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => `${v.impact} ${v.id}: ${v.help} -> ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`)"
    )
    return list(result)


def test_axe_finds_no_serious_or_critical_violation(page, new_page, phase, hidden_phase, organiser, password):
    from challenge.services import user_create

    submissions = _entries(phase, count=3)
    user = user_create(username="axel", password=password, email="axel@example.org")
    MembershipFactory(team=submissions[0].team, user=user, role="member")
    public = [
        "/",
        "/c/video-pentathlon/",
        "/c/video-pentathlon/val/leaderboard/",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
    ]
    participant = [
        "/c/video-pentathlon/team/",
        "/c/video-pentathlon/val/submit/",
        "/c/video-pentathlon/submissions/",
        f"/submissions/{submissions[0].id}/",
        "/accounts/profile/",
        "/accounts/email/",
        "/accounts/api-token/",
    ]
    # every page of the console an organiser of the challenge reaches; a code phase's card (gallery
    # inputs) on the dashboard too
    from challenge.models import Phase

    Phase.objects.filter(id=hidden_phase.id).update(submission_kind=Phase.SubmissionKind.CODE)
    organiser_pages = [
        "/organiser/",
        "/organiser/c/video-pentathlon/",
        "/organiser/c/video-pentathlon/settings/",
        "/organiser/c/video-pentathlon/phases/new/",
        "/organiser/c/video-pentathlon/submissions/",
        "/organiser/c/video-pentathlon/teams/",
        "/organiser/c/video-pentathlon/log/",
        f"/organiser/phases/{phase.id}/settings/",
        f"/organiser/phases/{phase.id}/rescore/",
    ]
    problems = {}
    for url in public:
        page.goto(url)
        problems[url] = _axe(page)
    member = new_page()
    member.goto("/accounts/login/")
    member.fill("#id_login", "axel")
    member.fill("#id_password", password)
    member.click("main button[type=submit]")
    member.wait_for_url("**/")
    for url in participant:
        member.goto(url)
        problems[url] = _axe(member)
    org = new_page()
    org.goto("/accounts/login/")
    org.fill("#id_login", organiser.username)
    org.fill("#id_password", password)
    org.click("main button[type=submit]")
    org.wait_for_url("**/")
    for url in organiser_pages:
        assert org.goto(url).status == 200, url  # the page itself, not a refusal, is checked
        problems[url] = _axe(org)
    found = {url: issues for url, issues in problems.items() if issues}
    assert len(problems) == len(public) + len(participant) + len(organiser_pages)
    assert not found, "\n".join(f"{url}: {issue}" for url, issues in found.items() for issue in issues)
