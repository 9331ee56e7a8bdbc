"""Browser: the leaderboard shows each score's interval (with a [low, high] / ± toggle) and marks
the entries tied within noise; an entry's recall chart has error bars."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from tests.factories import SubmissionFactory, TeamFactory, ranked_result

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")


def _ranks(worse: int, changed: int) -> dict:
    """The same 200 queries per dataset for every entry (paired), `worse` of them pushed down,
    `changed` made a little worse and as many others found first (a difference within noise)."""
    out = {}
    for index, name in enumerate(DATASETS):
        base = np.random.default_rng(index).integers(0, 12, size=200).astype(float)
        ranks = base.copy()
        ranks[200 - worse :] += 20.0
        if changed:  # a few queries the others find first are missed, almost as many others found first
            ranks[np.flatnonzero(base == 0)[:changed]] = 5.0
            ranks[np.flatnonzero((base >= 5) & (base < 10))[: changed - 1]] = 0.0
        out[name] = {"t2v": ranks}
    return out


def test_the_leaderboard_shows_intervals_and_ties_within_noise(page, phase):
    cache.clear()
    entries = {}
    for name, worse, changed in (("Alpha", 0, 0), ("Beta", 0, 6), ("Gamma", 100, 0)):
        submission = SubmissionFactory(team=TeamFactory(challenge=phase.challenge, name=name), phase=phase)
        entries[name] = ranked_result(submission=submission, ranks=_ranks(worse, changed))
    alpha = entries["Alpha"]

    page.goto("/c/video-pentathlon/val/leaderboard/")
    rows = page.locator("table.leaderboard tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-team", "Alpha")
    overall_cell = rows.nth(0).locator("td.num").first
    expect(overall_cell.locator("[data-ci]")).to_have_text(
        f"[{alpha.primary_score_low:.2f}, {alpha.primary_score_high:.2f}]"
    )
    expect(rows.nth(1).locator("[data-tied]")).to_have_text("tied within noise")
    expect(rows.nth(0).locator("[data-tied]")).to_have_count(0)
    expect(rows.nth(2).locator("[data-tied]")).to_have_count(0)  # Gamma is significantly behind Beta
    assert rows.nth(1).locator("[data-tied]").get_attribute("title").startswith("Not significantly behind #1")

    page.click("[data-ci-mode=pm]")
    half = (alpha.primary_score_high - alpha.primary_score_low) / 2
    expect(rows.nth(0).locator("td.num").first.locator("[data-ci]")).to_have_text(f"± {half:.2f}")
    page.click("[data-ci-mode=off]")
    expect(page.locator("table.leaderboard [data-ci]")).to_have_count(0)

    page.goto(f"/c/video-pentathlon/val/entries/{entries['Gamma'].submission_id}/")
    expect(page.locator("[data-comparisons] tr[data-against='the entry above']")).to_contain_text(
        "significantly behind"
    )
    expect(page.locator("#recall-chart[data-rendered='1']")).to_have_count(1)
    bars = page.evaluate("document.getElementById('recall-chart').chart.data.datasets[0].errorBars")
    assert len(bars) == len(DATASETS) and all(low <= high for low, high in bars)
