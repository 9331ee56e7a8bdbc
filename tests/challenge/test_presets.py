"""Presets in bundles and the demo's second challenge (`seed_preset`)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from challenge.bundle import BundleError, bundle_load, bundle_validate
from challenge.models import Challenge, Phase, Split, Team
from challenge.publication import published_truth_from_file

pytestmark = pytest.mark.django_db

PHASES = [{"slug": "val", "title": "Validation", "starts_at": "2026-01-01T00:00:00Z"}]


def test_a_bundle_naming_a_preset_takes_its_fields_and_datasets():
    challenge = bundle_load(
        data={"preset": "dcase-audio-retrieval", "challenge": {"slug": "dcase"}, "phases": PHASES}
    )
    assert (challenge.title, challenge.primary_metric) == ("Language-based audio retrieval", "mAP@10")
    assert list(challenge.datasets.values_list("name", flat=True)) == ["Clotho"]


def test_the_bundle_overrides_its_preset():
    data = {
        "preset": "audio-retrieval",
        "challenge": {"slug": "audio", "title": "Our audio challenge", "primary_metric": "R1"},
        "datasets": ["MyClips"],
        "phases": PHASES,
    }
    challenge = bundle_load(data=data)
    assert (challenge.title, challenge.primary_metric) == ("Our audio challenge", "R1")
    assert challenge.summary.startswith("Text to audio")
    assert list(challenge.datasets.values_list("name", flat=True)) == ["MyClips"]


def test_an_unknown_preset_is_a_problem_of_the_bundle():
    data = {
        "preset": "imagenet",
        "challenge": {"slug": "x", "title": "X"},
        "datasets": ["A"],
        "phases": PHASES,
    }
    problems = bundle_validate(data=data)
    assert any(problem.startswith("preset: unknown preset 'imagenet'") for problem in problems)
    with pytest.raises(BundleError):
        bundle_load(data=data)


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_preset", *args, stdout=out)
    return out.getvalue()


def test_seed_preset_makes_a_second_challenge_with_version_2_ground_truth_and_is_idempotent():
    call_command("seed_pentathlon", "--scale", "tiny", stdout=io.StringIO())
    output = _seed("dcase-audio-retrieval", "--scale", "tiny")
    assert "ranked by mAP@10" in output and "relevant pairs" in output
    challenge = Challenge.objects.get(slug="dcase-audio-retrieval")
    assert challenge.is_public and challenge.primary_metric == "mAP@10"
    assert list(challenge.organisers.values_list("username", flat=True)) == ["organiser"]
    phase = challenge.phases.get(slug="val")
    split = Split.objects.get(phase=phase)
    assert (split.dataset.name, split.num_queries, split.num_videos) == ("Clotho", 130, 26)
    published = published_truth_from_file(phase=phase, path=phase.ground_truth.path)
    clotho = published.datasets["Clotho"]
    assert published.blind and clotho.relevance is not None and clotho.relevance.per_query().max() > 1
    assert Team.objects.filter(challenge=challenge, name="Demo team").exists()
    counts = [m.objects.count() for m in (Challenge, Phase, Split, Team)]
    assert "ground truth unchanged" in _seed("dcase-audio-retrieval", "--scale", "tiny")
    assert [m.objects.count() for m in (Challenge, Phase, Split, Team)] == counts
    # the Pentathlon is still there, beside it
    assert Challenge.objects.filter(slug="video-pentathlon").exists()


def test_the_seeded_preset_challenge_scores_a_submission_and_shows_it_ranked_by_map_at_10(
    tmp_path, django_capture_on_commit_callbacks, caplog
):
    import numpy as np
    from django.core.files import File
    from django.test import Client

    from challenge.services import submission_create
    from leaderboard.models import Result
    from leaderboard.services import submission_evaluate

    call_command("seed_pentathlon", "--scale", "tiny", stdout=io.StringIO())
    _seed("dcase-audio-retrieval", "--scale", "tiny")
    phase = Phase.objects.get(challenge__slug="dcase-audio-retrieval", slug="val")
    clotho = published_truth_from_file(phase=phase, path=phase.ground_truth.path).datasets["Clotho"]
    # rows in the published (blind) order, the relevant clips scored higher than the others
    sims = (
        np.random.default_rng(0).standard_normal((clotho.num_queries, clotho.num_videos)).astype(np.float32)
    )
    query, item, _ = clotho.relevance.triples()
    sims[query, item] += 2.0
    np.savez(tmp_path / "entry.npz", Clotho=sims)
    participant = Team.objects.get(challenge=phase.challenge).memberships.get().user
    with django_capture_on_commit_callbacks(execute=False), open(tmp_path / "entry.npz", "rb") as handle:
        submission = submission_create(
            user=participant, phase=phase, file=File(handle, name="entry.npz"), method_name="Audio baseline"
        )
    submission_evaluate(submission_id=submission.id)  # through the scoring child, as the worker does
    submission.refresh_from_db()
    assert submission.status == "finished", submission.error_message
    result = Result.objects.get(submission=submission)
    from evaluation.metrics.relevance import relevance_metrics

    want = relevance_metrics(sims, clotho.relevance, metrics=["mAP@10"], directions=["t2v"])["t2v"]["mAP@10"]
    assert result.primary_score == pytest.approx(want) and 0 < want < 100
    home = Client().get("/").content.decode()
    assert "Language-based audio retrieval" in home and "Video Pentathlon" in home
    board = Client().get("/c/dcase-audio-retrieval/val/leaderboard/").content.decode()
    assert "mAP@10" in board and "Audio baseline" in board
    # intervals of mAP@10 come from the per-query values kept beside the ranks, with no error logged
    overall = result.intervals["overall_score"]
    assert overall["estimate"] == result.primary_score and overall["low"] <= want <= overall["high"]
    assert not [r for r in caplog.records if r.levelname == "ERROR" and "intervals" in r.getMessage()]
