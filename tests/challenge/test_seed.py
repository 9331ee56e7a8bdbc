from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from challenge.models import Challenge, Phase, Split, Team

pytestmark = pytest.mark.django_db


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_pentathlon", *args, stdout=out)
    return out.getvalue()


def test_seed_creates_the_pentathlon_and_is_idempotent():
    from evaluation.synthetic import pentathlon_ground_truth

    output = _seed("--scale", "tiny")
    assert "organiser / pentathlon-organiser" in output and "participant / pentathlon-participant" in output
    challenge = Challenge.objects.get(slug="video-pentathlon")
    assert list(challenge.datasets.values_list("name", flat=True)) == [
        "MSRVTT",
        "MSVD",
        "DiDeMo",
        "YouCook2",
        "ActivityNet",
    ]
    val, test = Phase.objects.get(slug="val"), Phase.objects.get(slug="test")
    assert test.max_submissions_total == 3 and not test.results_published and val.results_published
    truth = pentathlon_ground_truth(phase="test", scale="tiny")
    split = Split.objects.get(phase=test, dataset__name="MSVD")
    assert (split.num_queries, split.num_videos) == (
        truth.datasets["MSVD"].num_queries,
        truth.datasets["MSVD"].num_videos,
    )
    digests = (val.ground_truth_sha256, test.ground_truth_sha256)
    counts = [m.objects.count() for m in (Challenge, Phase, Split, Team)]
    assert "ground truth unchanged" in _seed("--scale", "tiny")
    assert [m.objects.count() for m in (Challenge, Phase, Split, Team)] == counts
    val.refresh_from_db()
    test.refresh_from_db()
    assert (val.ground_truth_sha256, test.ground_truth_sha256) == digests
    organiser = authenticate(username="organiser", password="pentathlon-organiser")
    assert organiser is not None and organiser.is_staff
    # A per-challenge organiser, not a site administrator.
    assert not organiser.is_superuser
    assert list(organiser.organised_challenges.values_list("slug", flat=True)) == ["video-pentathlon"]
    participant = authenticate(username="participant", password="pentathlon-participant")
    assert participant is not None and participant.teams.get().name == "Demo team"


@pytest.mark.slow
def test_seed_full_scale_uses_the_2020_counts():
    _seed("--scale", "full")
    counts = {
        (s.phase.slug, s.dataset.name): (s.num_videos, s.num_queries)
        for s in Split.objects.select_related("phase", "dataset")
    }
    assert counts[("val", "MSRVTT")] == (497, 9940)
    assert counts[("test", "MSRVTT")] == (2990, 59794)
    assert counts[("val", "MSVD")] == (100, 4290)
    assert counts[("test", "ActivityNet")] == (4917, 4917)
    assert counts[("test", "YouCook2")] == (3310, 3310)
