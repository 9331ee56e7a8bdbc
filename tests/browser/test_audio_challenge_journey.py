"""Any retrieval benchmark, in chromium: an organiser creates an audio-retrieval challenge in the console with
its own dataset (MyClips), its metric set and mAP@10 as primary metric, uploads version-2 ground truth
(sets of relevant clips, `rel_query`/`rel_item`, with distractor clips), two participants submit through
the form, and the board ranks them by mAP@10 in the challenge's words ("audio clips", "text→audio").
Each entry's mAP@10 shows its bootstrap interval, drawn from the per-query values kept at scoring."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from challenge.models import Challenge, Phase
from challenge.publication import published_truth_from_file
from evaluation.ground_truth import GroundTruth, dataset_truth, write_ground_truth
from evaluation.metrics.relevance import relevance_metrics
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLIPS, CAPTIONS_PER_CLIP, DISTRACTORS = 12, 2, 3


def _log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/")


def _version_2_truth(path) -> None:
    """24 captions of 12 clips plus 3 distractor clips no caption asks for; each caption is relevant to
    its own clip and the next one (sets of two), written as version 2 (`rel_query`, `rel_item`)."""
    queries = CLIPS * CAPTIONS_PER_CLIP
    own = np.arange(queries) // CAPTIONS_PER_CLIP
    rel_query = np.repeat(np.arange(queries), 2)
    rel_item = np.stack([own, (own + 1) % CLIPS], axis=1).ravel()
    clips = dataset_truth(
        name="MyClips",
        videos=[f"clip{i:02d}" for i in range(CLIPS + DISTRACTORS)],
        query_ids=[f"cap{q:02d}" for q in range(queries)],
        rel_query=rel_query,
        rel_item=rel_item,
    )
    write_ground_truth(
        path, GroundTruth(challenge="Clip retrieval", phase="val", datasets={"MyClips": clips})
    )


def _create_challenge(page) -> None:
    page.goto("/organiser/")
    page.click("[data-action=challenge-create]")
    page.fill("#id_slug", "clip-retrieval")
    page.fill("#id_title", "Clip retrieval")
    page.fill("#id_summary", "Find the audio clips each caption describes")
    page.fill("#id_datasets", "MyClips")
    page.select_option("#id_query_modality", "text")
    page.select_option("#id_gallery_modality", "audio")
    # a primary metric outside the set is refused with a sentence that says what to do
    page.fill("#id_metrics", "mAP@10, mAP@16, R1")
    page.select_option("#id_primary_metric", "nDCG")
    page.click("[data-action=save-challenge]")
    expect(page.locator("main")).to_contain_text(
        "The primary metric nDCG is not among the challenge's metrics"
    )
    page.select_option("#id_primary_metric", "mAP@10")
    page.click("[data-action=save-challenge]")
    expect(page.locator(".messages")).to_contain_text("Challenge 'Clip retrieval' created")


def _create_phase_with_truth(page, truth_path) -> None:
    page.click("[data-action=phase-create]")
    opens = (timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
    page.fill("#id_slug", "val")
    page.fill("#id_title", "Validation")
    page.fill("#id_starts_at", opens.strftime("%Y-%m-%dT%H:%M"))
    page.click("[data-action=save-phase]")
    expect(page.locator(".messages")).to_contain_text("Validation: phase created")
    card = page.locator("article[data-phase=val]")
    card.locator("input[name=file]").set_input_files(str(truth_path))
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("[data-action=ground-truth]").click()
    expect(page.locator(".messages")).to_contain_text("Validation: ground truth stored for MyClips")
    splits = card.locator("[data-role=ground-truth-splits]")
    expect(splits).to_contain_text("MyClips")
    expect(splits.locator("thead")).to_contain_text("Audio clips")


def _submit(page, path, method: str) -> None:
    page.goto("/c/clip-retrieval/val/submit/")
    expect(page.locator("main table")).to_contain_text("Columns (audio clips)")
    page.set_input_files("#id_file", str(path))
    page.fill("#id_method_name", method)
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.locator("[data-role=status]")).to_have_text("Finished")


def test_an_organiser_runs_an_audio_challenge_ranked_by_map_at_10(
    page, new_page, organiser, password, tmp_path
):
    truth_path = tmp_path / "clips.h5"
    _version_2_truth(truth_path)
    _log_in(page, organiser.username, password)
    _create_challenge(page)
    _create_phase_with_truth(page, truth_path)
    challenge = Challenge.objects.get(slug="clip-retrieval")
    assert (challenge.primary_metric, challenge.metrics) == ("mAP@10", ["mAP@10", "mAP@16", "R1"])

    # rows in the order the phase publishes its queries (blind: a secret order)
    phase = Phase.objects.get(challenge=challenge, slug="val")
    published = published_truth_from_file(phase=phase, path=phase.ground_truth.path).datasets["MyClips"]
    query, item, _ = published.relevance.triples()
    noise = np.random.default_rng(7).standard_normal((published.num_queries, published.num_videos))
    entries = {}
    for team, boost in (("Strong", 3.0), ("Weak", 0.4)):
        sims = noise.astype(np.float32)
        sims[query, item] += boost
        path = tmp_path / f"{team}.npz"
        np.savez(path, MyClips=sims)
        entries[team] = relevance_metrics(sims, published.relevance, metrics=["mAP@10"], directions=["t2v"])
        user = UserFactory(username=team.lower())
        MembershipFactory(team=TeamFactory(challenge=challenge, name=team), user=user, role="owner")
        participant = new_page()
        _log_in(participant, user.username, password)
        _submit(participant, path, f"{team} model")
    strong, weak = (entries[t]["t2v"]["mAP@10"] for t in ("Strong", "Weak"))
    assert strong > weak

    visitor = new_page()
    visitor.goto("/c/clip-retrieval/val/leaderboard/?dataset=MyClips")
    board = visitor.locator("table.leaderboard")
    headings = board.locator("thead th").all_inner_texts()
    assert any(h.startswith("mAP@10") for h in headings) and any(h.startswith("mAP@16") for h in headings)
    rows = board.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Strong")
    expect(rows.nth(1)).to_contain_text("Weak")
    expect(visitor.locator("main")).to_contain_text("text→audio mAP@10")
    # each mAP@10 with its bootstrap interval, which holds the reported value
    for index in range(2):
        primary = rows.nth(index).locator("td.col-primary")
        expect(primary.locator("[data-ci]")).to_have_count(1)
        value, low, high = (float(n) for n in re.findall(r"\d+(?:\.\d+)?", primary.inner_text())[:3])
        assert low <= value <= high and low < high

    # the entry's page speaks of audio clips, in both directions
    rows.nth(0).locator("a", has_text="Strong model").first.click()
    main = visitor.locator("main")
    expect(main).to_contain_text("audio clips")
    expect(main.locator("table.metrics").first).to_contain_text("text→audio")
    expect(main.locator("table.metrics").first).to_contain_text("audio→text")
