"""Challenge presets: real shapes, metrics of the registry, and synthetic ground truth that scores."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.ground_truth import read_ground_truth, write_ground_truth
from evaluation.metrics.registry import METRIC_KEYS, metric
from evaluation.metrics.retrieval import GEOMETRIC_MEAN_KEY
from evaluation.presets import PRESETS, preset
from evaluation.scoring import score_submission
from evaluation.synthetic import preset_ground_truth, write_npz_submission


@pytest.mark.parametrize("key", sorted(PRESETS))
def test_every_preset_ranks_by_a_metric_the_scorer_knows(key):
    chosen = preset(key)
    assert chosen.primary_metric == GEOMETRIC_MEAN_KEY or metric(chosen.primary_metric)
    for name in chosen.metrics:
        assert metric(name)
    assert [d["name"] for d in chosen.bundle_datasets()] == [d.name for d in chosen.datasets]


def test_the_presets_hold_the_benchmarks_real_counts():
    shapes = {key: {d.name: (d.queries, d.items) for d in chosen.datasets} for key, chosen in PRESETS.items()}
    assert shapes["audio-retrieval"] == {"AudioCaps": (4_875, 975), "CLOTHO": (5_225, 1_045)}
    assert shapes["dcase-audio-retrieval"] == {"Clotho": (5_225, 1_045)}
    assert shapes["epic-kitchens-mir"] == {"EPIC-KITCHENS-100": (3_842, 9_668)}


def test_an_unknown_preset_names_the_known_ones():
    with pytest.raises(KeyError, match="expected one of pentathlon-2020, audio-retrieval"):
        preset("imagenet")


@pytest.mark.parametrize("key", sorted(PRESETS))
def test_each_preset_ground_truth_round_trips_and_scores_by_its_primary_metric(tmp_path, key):
    truth = preset_ground_truth(key, phase="val", scale="tiny", seed=1)
    write_ground_truth(tmp_path / "gt.h5", truth)
    back = read_ground_truth(tmp_path / "gt.h5", datasets=[d.name for d in preset(key).datasets])
    assert list(back.datasets) == [d.name for d in preset(key).datasets]
    rng = np.random.default_rng(0)
    matrices = {}
    for name, d in back.datasets.items():
        sims = rng.standard_normal((d.num_queries, d.num_videos)).astype(np.float32)
        sims[np.arange(d.num_queries), d.query_video] += 3.0
        matrices[name] = sims
    write_npz_submission(tmp_path / "s.npz", matrices)
    primary = preset(key).primary_metric
    asked = None if primary in (*METRIC_KEYS, GEOMETRIC_MEAN_KEY) else [primary]
    report = score_submission(ground_truth=back, submission_path=tmp_path / "s.npz", metrics=asked)
    for name in back.datasets:
        t2v = report["datasets"][name]["t2v"]
        assert 0.0 < t2v[primary] <= 100.0
    assert report["overall_score"] is not None


def test_the_dcase_preset_has_several_relevant_clips_and_the_epic_preset_grades():
    dcase = preset_ground_truth("dcase-audio-retrieval", seed=0).datasets["Clotho"]
    per_query = dcase.relevance.per_query()
    assert per_query.min() == 1 and per_query.max() == 4 and not dcase.relevance.graded
    # each caption's own clip (captions grouped by clip, 5 each) is among its relevant clips
    query, item, _ = dcase.relevance.triples()
    own = set(zip(range(dcase.num_queries), (np.arange(dcase.num_queries) // 5).tolist(), strict=True))
    assert own <= set(zip(query.tolist(), item.tolist(), strict=True))
    epic = preset_ground_truth("epic-kitchens-mir", seed=0).datasets["EPIC-KITCHENS-100"]
    assert epic.relevance.graded and epic.relevance.nnz == epic.num_queries * epic.num_videos
