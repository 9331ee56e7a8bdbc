"""A challenge's words and metric set (`challenge.models.vocabulary`), checked by the model for every
writer: the console's services, the bundle and the form say the same sentences."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from challenge.bundle import bundle_validate
from challenge.forms import ChallengeForm
from challenge.models import Challenge
from challenge.models.vocabulary import (
    PRIMARY_NOT_IN_SET,
    RANK_COLUMNS,
    Words,
    metric_set,
    metric_set_problems,
)
from challenge.services.challenges import challenge_settings_update

PHASES = [{"slug": "val", "title": "Validation", "starts_at": "2026-01-01T00:00:00Z"}]


def test_the_defaults_keep_the_pentathlons_words():
    words = Challenge().words
    assert (words.queries, words.items, words.item, words.forward, words.backward) == (
        "captions",
        "videos",
        "video",
        "text→video",
        "video→text",
    )


def test_the_challenges_own_nouns_win_over_the_modalitys():
    words = Words.of(query_modality="text", gallery_modality="audio", item_noun="recordings")
    assert (words.items, words.item, words.forward) == ("recordings", "audio clip", "text→audio")


@pytest.mark.parametrize(
    ("primary", "metrics", "fields"),
    [
        ("mAP@10", ["mAP@10", "mAP@16", "nDCG@5", "R20"], {"metrics"}),  # R20 is no registry key
        ("mAP@10", ["R1", "R1", "mAP@10"], {"metrics"}),
        ("nDCG", ["mAP@10"], {"primary_metric"}),
        ("geometric_mean_R1-R5-R10", ["mAP@16"], set()),
        ("R1", "R1", {"metrics"}),
        ("mAP@10", [], set()),
    ],
)
def test_metric_set_problems_name_the_field(primary, metrics, fields):
    assert set(metric_set_problems(primary=primary, metrics=metrics)) == fields


def test_an_empty_set_is_the_rank_metrics_and_the_primary():
    assert metric_set(primary="geometric_mean_R1-R5-R10", metrics=None) == RANK_COLUMNS
    assert metric_set(primary="mAP@10", metrics=[]) == (*RANK_COLUMNS, "mAP@10")
    assert metric_set(primary="mAP@10", metrics=["mAP@10", "nDCG@5"]) == ("mAP@10", "nDCG@5")


@pytest.mark.django_db
def test_the_service_refuses_a_primary_outside_the_set_with_the_sentence(challenge):
    with pytest.raises(ValidationError) as caught:
        challenge_settings_update(challenge=challenge, metrics=["mAP@10"], primary_metric="nDCG")
    assert caught.value.message_dict["primary_metric"] == [
        PRIMARY_NOT_IN_SET.format(primary="nDCG", metrics="mAP@10")
    ]
    saved = challenge_settings_update(
        challenge=challenge, metrics=["mAP@10", "mAP@16"], primary_metric="mAP@16", gallery_modality="audio"
    )
    saved.refresh_from_db()
    assert (saved.primary_metric, saved.metric_set, saved.higher_is_better) == (
        "mAP@16",
        ("mAP@10", "mAP@16"),
        True,
    )
    assert saved.words.items == "audio clips"


@pytest.mark.django_db
def test_the_bundle_reports_the_set_and_the_modality_where_they_are():
    data = {
        "challenge": {
            "slug": "clips",
            "title": "Clips",
            "primary_metric": "nDCG",
            "metrics": ["mAP@10", "mAP@0"],
            "gallery_modality": "smell",
        },
        "datasets": ["MyClips"],
        "phases": PHASES,
    }
    problems = bundle_validate(data=data)
    assert any(p.startswith("challenge.metrics: 'mAP@0' is not a metric of the registry") for p in problems)
    assert any(
        p.startswith("challenge.primary_metric: The primary metric nDCG is not among") for p in problems
    )
    assert any(p.startswith("challenge.gallery_modality:") and "audio" in p for p in problems)
    data["challenge"].update(primary_metric="mAP@10", metrics=["mAP@10", "R1"], gallery_modality="audio")
    assert bundle_validate(data=data) == []


@pytest.mark.django_db
def test_the_form_offers_declared_cut_offs_and_shows_the_sentence(challenge):
    data = {
        "title": "T",
        "primary_metric": "mAP@16",
        "metrics": "mAP@16, R1",
        "score_decimals": 2,
        "terms_version": 0,
    }
    form = ChallengeForm(data, instance=challenge)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["metrics"] == ["mAP@16", "R1"]
    refused = ChallengeForm({**data, "primary_metric": "nDCG"}, instance=challenge)
    assert not refused.is_valid()
    assert "is not among the challenge's metrics" in refused.errors["primary_metric"][0]
