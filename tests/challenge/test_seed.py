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


def _kit_queries(phase: Phase) -> dict[str, list[str]]:
    import zipfile

    from challenge.starter_kit import starter_kit_build

    with zipfile.ZipFile(io.BytesIO(starter_kit_build(phase=phase))) as kit:
        names = [n.split("/")[0] for n in kit.namelist() if n.endswith("/queries.txt")]
        return {name: kit.read(f"{name}/queries.txt").decode().split() for name in names}


def _assert_blind_kit(phase: Phase) -> None:
    """No organiser query id in the kit, and its order is not the video order."""
    import numpy as np

    from challenge.publication import phase_published_truth
    from evaluation.ground_truth import read_ground_truth

    assert phase.is_blind
    organiser = read_ground_truth(phase.ground_truth.path)
    published = phase_published_truth(phase=phase)
    kit = _kit_queries(phase)
    assert set(kit) == set(organiser.datasets)
    for name, truth in organiser.datasets.items():
        assert not set(kit[name]) & set(truth.query_ids), name
        assert not any(video in query for query in kit[name] for video in truth.videos[:50]), name
        assert kit[name] == list(published.datasets[name].query_ids)
        assert not np.all(np.diff(published.datasets[name].query_video) >= 0), name


def test_default_seed_publishes_blind_phases_whose_kits_reveal_nothing():
    _seed("--scale", "tiny")
    for slug in ("val", "test"):
        phase = Phase.objects.get(slug=slug)
        _assert_blind_kit(phase)
        # The seed uploads the telling file organisers have; the audit says so.
        assert phase.ground_truth_audit["MSRVTT"]["leaks"]


def test_seed_from_expert_stores_publishes_blind_phases(tmp_path):
    from baselines.synthetic import generate

    generate(tmp_path, scale="tiny", seed=0)
    output = _seed("--experts", str(tmp_path))
    assert "published blind" in output
    for slug in ("val", "test"):
        _assert_blind_kit(Phase.objects.get(slug=slug))
    # The stores' caption text reaches the kit, in the published order.
    from challenge.publication import phase_published_truth

    published = phase_published_truth(phase=Phase.objects.get(slug="test")).datasets["MSRVTT"]
    assert published.query_text and all(text.strip() for text in published.query_text)


def test_seed_adds_a_code_test_phase_whose_kit_has_the_example_and_no_queries():
    import zipfile

    from challenge.starter_kit import starter_kit_build

    _seed("--scale", "tiny")
    code, test = Phase.objects.get(slug="test-code"), Phase.objects.get(slug="test")
    assert code.is_code and not code.code_show_output and code.code_failures_count
    assert code.ground_truth_sha256 == test.ground_truth_sha256  # the test split, run as code
    kit = zipfile.ZipFile(io.BytesIO(starter_kit_build(phase=code)))
    assert "main.py" in kit.namelist() and not [n for n in kit.namelist() if "queries" in n]
