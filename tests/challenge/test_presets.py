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
