"""The public page of a leaderboard entry (and its charts): shown only for public entries, 404 otherwise."""

from __future__ import annotations

import pytest
from django.test import Client

from challenge.models import Phase, Submission

pytestmark = pytest.mark.django_db

DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")


def _urls(submission) -> tuple[str, str]:
    phase = submission.phase
    return (
        f"/c/{phase.challenge.slug}/{phase.slug}/entries/{submission.id}/",
        f"/api/v1/entries/{submission.id}/charts/",
    )


@pytest.fixture
def public_entry(upload):
    return upload(
        "npz",
        method_name="CE+",
        description="Collaborative experts, bigger.",
        paper_url="https://papers.example/ce",
        code_url="https://code.example/ce",
    )


def test_public_entry_page_shows_team_method_links_and_both_directions(public_entry):
    page_url, charts_url = _urls(public_entry)
    anonymous = Client()
    page = anonymous.get(page_url)
    assert page.status_code == 200
    html = page.content.decode()
    for text in (
        "Alpha",
        "CE+",
        "Collaborative experts, bigger.",
        "https://papers.example/ce",
        "https://code.example/ce",
        "text→video",
        "video→text",
        *DATASETS,
    ):
        assert text in html
    assert f'data-charts="{charts_url}"' in html and "js/charts.js" in html
    charts = anonymous.get(charts_url).json()
    assert charts["visible"] is True and [d["dataset"] for d in charts["datasets"]] == list(DATASETS)
    assert all(d["rank_histogram"] for d in charts["datasets"])
    # the leaderboard links each row to its entry page
    board = anonymous.get(f"/c/{public_entry.phase.challenge.slug}/{public_entry.phase.slug}/leaderboard/")
    assert f'href="{page_url}"' in board.content.decode()


@pytest.mark.parametrize(
    "change",
    [
        "private",
        "hidden",
        "disqualified",
        "failed",
        "unpublished",
        "owners_only",
        "hidden_challenge",
        "wrong_phase",
    ],
)
def test_anything_not_public_is_404_for_everyone(change, public_entry, participant, organiser):
    page_url, charts_url = _urls(public_entry)
    submissions = Submission.objects.filter(id=public_entry.id)
    phase = public_entry.phase
    if change == "private":
        submissions.update(is_public=False)
    elif change in ("hidden", "disqualified"):
        submissions.update(moderation=change)
    elif change == "failed":
        submissions.update(status=Submission.Status.FAILED)
    elif change == "unpublished":
        Phase.objects.filter(id=phase.id).update(leaderboard_visibility=Phase.LeaderboardVisibility.HIDDEN)
    elif change == "owners_only":
        Phase.objects.filter(id=phase.id).update(leaderboard_visibility=Phase.LeaderboardVisibility.OWNERS)
    elif change == "hidden_challenge":
        phase.challenge.__class__.objects.filter(id=phase.challenge_id).update(is_public=False)
    elif change == "wrong_phase":
        page_url = page_url.replace(f"/{phase.slug}/", "/other/")
    for user in (None, participant, organiser):
        client = Client()
        if user is not None:
            client.force_login(user)
        assert client.get(page_url).status_code == 404, (change, user)
        if change != "wrong_phase":
            assert client.get(charts_url).status_code == 404, (change, user)


def test_an_unpublished_board_seen_by_organisers_links_no_entry(public_entry, organiser):
    Phase.objects.filter(id=public_entry.phase_id).update(
        leaderboard_visibility=Phase.LeaderboardVisibility.HIDDEN
    )
    client = Client()
    client.force_login(organiser)
    board = client.get(f"/c/{public_entry.phase.challenge.slug}/{public_entry.phase.slug}/leaderboard/")
    assert board.status_code == 200 and "CE+" in board.content.decode()
    assert "data-entry-link" not in board.content.decode()
