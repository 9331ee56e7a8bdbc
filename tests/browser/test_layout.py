"""Tables that read, measured in chromium: at 1280, 1366 and 1920 px every column of the board (overall
and per dataset, intervals on) ends inside the viewport; on a 390 px phone the primary score's cell is
on screen without scrolling on the board, My submissions and the result page, and stays there when
the table scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from challenge.models import Phase
from tests.factories import ResultFactory, SubmissionFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")
ROWS = 8


def _board(phase, participant):
    """Long team and method names, every metric, intervals: the widest board the site draws."""
    Phase.objects.filter(id=phase.id).update(intervals_enabled=True)
    own = participant.teams.get(challenge=phase.challenge)
    submissions = []
    for i in range(ROWS):
        team = (
            own
            if i == 0
            else TeamFactory(challenge=phase.challenge, name=f"Team with a rather long name {i}")
        )
        submission = SubmissionFactory(
            team=team,
            phase=phase,
            method_name=f"Collaborative experts with mixture-of-embedding gating and text distillation v{i}",
            original_filename="sims.npz",
        )
        metrics = {
            name: {
                "score": 40.0 + i,
                "t2v": {
                    "R1": 10.0 + i,
                    "R5": 30.0 + i,
                    "R10": 40.0 + i,
                    "R50": 80.0,
                    "MedR": 12.0,
                    "MeanR": 180.5,
                },
                "v2t": None,
            }
            for name in DATASETS
        }
        result = ResultFactory(
            submission=submission,
            metrics=metrics,
            primary_score=40.0 + i,
            primary_score_low=38.123,
            primary_score_high=42.456,
        )
        intervals = {"R1": [8.12, 12.34], "R5": [28.12, 32.34], "R10": [38.1, 42.3], "score": [38.12, 42.34]}
        result.dataset_results.update(intervals=intervals)
        submissions.append(submission)
    return submissions


def _login(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/")


RIGHT_EDGES = """(() => {
  const vw = document.documentElement.clientWidth;
  const cells = [...document.querySelectorAll('table.leaderboard thead th')];
  return {vw, edges: cells.map(c => [c.textContent.trim(), c.getBoundingClientRect().right])};
})()"""


@pytest.mark.parametrize("width", [1280, 1366, 1920])
def test_every_board_column_ends_inside_the_viewport(browser, live_server, phase, participant, width):
    _board(phase, participant)
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        for board in ("", "?dataset=MSRVTT"):
            page.goto(f"/c/video-pentathlon/val/leaderboard/{board}")
            expect(page.locator("table.leaderboard tbody tr")).to_have_count(ROWS)
            measured = page.evaluate(RIGHT_EDGES)
            outside = [(name, right) for name, right in measured["edges"] if right > measured["vw"]]
            assert not outside, (width, board, measured["vw"], outside)
            assert measured["edges"][-1][0] == "Submitted"
            # a long name is cut, and its full text is on the cell (hover) and shown on focus
            name = page.locator("table.leaderboard tbody tr").first.locator(".col-method .clip")
            full = name.get_attribute("title")
            assert full and full.startswith("Collaborative experts with")
            clipped = name.evaluate("e => e.scrollWidth > e.clientWidth")
            assert clipped
            name.focus()
            assert name.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    finally:
        context.close()


VISIBLE = """(selector) => {
  const e = document.querySelector(selector); const r = e.getBoundingClientRect();
  const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
  const at = document.elementFromPoint(Math.min(r.left + r.width / 2, vw - 1), r.top + r.height / 2);
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, vw, vh,
          scrollX: window.scrollX, scrollY: window.scrollY, onTop: !!at && e.contains(at)};
}"""


def _assert_on_screen(page, selector: str, where: str) -> None:
    box = page.evaluate(VISIBLE, selector)
    assert box["scrollX"] == 0 and box["scrollY"] == 0, (where, box)
    assert 0 <= box["left"] and box["right"] <= box["vw"], (where, box)
    assert 0 <= box["top"] and box["bottom"] <= box["vh"], (where, box)
    assert box["onTop"], (where, "covered", box)


def test_on_a_phone_the_primary_score_is_on_screen_and_stays_there(
    browser, live_server, phase, participant, password
):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(id=participant.id)
    user.set_password(password)
    user.save()
    submissions = _board(phase, participant)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        for board in ("", "?dataset=MSRVTT"):
            page.goto(f"/c/video-pentathlon/val/leaderboard/{board}")
            expect(page.locator("table.leaderboard tbody tr")).to_have_count(ROWS)
            first = "table.leaderboard tbody tr:first-child td.col-primary"
            _assert_on_screen(page, first, f"board {board}")
            # the rest of the row scrolls beside the key columns, which stay put
            page.evaluate("document.querySelector('.table-scroll').scrollLeft = 10000")
            assert page.evaluate("document.querySelector('.table-scroll').scrollLeft") > 0
            _assert_on_screen(page, first, f"board {board}, scrolled")
            _assert_on_screen(page, "table.leaderboard tbody tr:first-child td.col-team", f"team {board}")
            _assert_on_screen(page, "table.leaderboard tbody tr:first-child td.col-rank", f"rank {board}")
            assert page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )[0] <= page.evaluate("document.documentElement.clientWidth")
        _login(page, participant.username, password)
        page.goto("/c/video-pentathlon/submissions/")
        score = "table.submissions tbody tr:first-child td.col-primary"
        expect(page.locator(score)).to_contain_text("40.00")
        _assert_on_screen(page, score, "my submissions")
        page.goto(f"/submissions/{submissions[0].id}/")
        expect(page.locator("[data-role=primary-score]")).to_have_text("40.00")
        expect(page.locator("[data-role=rank]")).to_have_text(str(ROWS))
        _assert_on_screen(page, "[data-role=primary-score]", "result page")
        _assert_on_screen(page, "[data-role=board-link]", "result page's board link")
    finally:
        context.close()
