"""Intervals in the worker: per-query ranks kept privately beside the result, intervals stored with it."""

from __future__ import annotations

import numpy as np
import pytest

from challenge.models import Submission
from challenge.publication import phase_published_truth
from evaluation.scoring import score_submission
from evaluation.uncertainty import submission_intervals, unpack_ranks
from leaderboard.models import DatasetResult, Result, ResultRanks
from leaderboard.services.evaluate import STAGE_INTERVALS
from leaderboard.services.intervals import (
    board_intervals,
    phase_intervals_refresh,
    result_intervals_compute,
)

pytestmark = pytest.mark.django_db


def test_a_scored_submission_keeps_its_ranks_privately_and_its_intervals(upload, phase, make_submission_file):
    submission = upload()
    assert submission.status == Submission.Status.FINISHED
    result = Result.objects.get(submission=submission)
    stored = unpack_ranks(bytes(ResultRanks.objects.get(result=result).blob))

    # The stored ranks are the scorer's, in the phase's published order, for every dataset.
    truth = phase_published_truth(phase=phase)
    expected: dict = {}
    score_submission(
        ground_truth=truth, submission_path=make_submission_file("npz", truth=truth), ranks_out=expected
    )
    assert set(stored) == set(expected) == set(result.metrics)
    for name, entry in expected.items():
        np.testing.assert_array_equal(stored[name]["t2v"], entry["t2v"])
        np.testing.assert_array_equal(stored[name]["groups"], entry["groups"])

    # The stored intervals are those of the ranks, at the phase's level, for the challenge's metric.
    intervals = result.intervals
    assert intervals == submission_intervals(
        expected, phase_datasets=list(result.metrics), level=0.95, resamples=1000, seed=0
    )
    assert intervals["level"] == 0.95 and intervals["metric"] == "geometric_mean_R1-R5-R10"
    assert result.primary_score_low <= result.primary_score <= result.primary_score_high
    assert result.primary_score_low < result.primary_score_high
    for row in DatasetResult.objects.filter(result=result):
        low, high = row.intervals["score"]
        assert low <= row.score <= high
        assert row.intervals["R1"] == [
            intervals["datasets"][row.dataset]["t2v"]["R1"]["low"],
            intervals["datasets"][row.dataset]["t2v"]["R1"]["high"],
        ]


def test_a_phase_with_intervals_off_stores_ranks_but_no_intervals(upload, phase):
    phase.intervals_enabled = False
    phase.save(update_fields=["intervals_enabled"])
    result = Result.objects.get(submission=upload())
    assert result.intervals is None and result.primary_score_low is None
    assert ResultRanks.objects.filter(result=result).exists()
    assert not DatasetResult.objects.filter(result=result, intervals__isnull=False).exists()


def test_refresh_recomputes_at_the_new_level_from_the_stored_ranks(upload, phase):
    result = Result.objects.get(submission=upload())
    wide = result.primary_score_high - result.primary_score_low
    phase.interval_level = 0.5
    phase.save(update_fields=["interval_level"])
    assert phase_intervals_refresh(phase=phase) == 1
    result.refresh_from_db()
    assert result.intervals["level"] == 0.5
    assert result.primary_score_high - result.primary_score_low < wide
    phase.intervals_enabled = False
    phase.save(update_fields=["intervals_enabled"])
    phase_intervals_refresh(phase=phase)
    result.refresh_from_db()
    assert result.intervals is None and result.primary_score_high is None


def test_the_score_interval_follows_the_challenges_primary_metric(phase):
    phase.challenge.primary_metric = "R5"
    ranks = {"MSRVTT": {"t2v": np.array([0.0, 3.0, 7.0, 1.0]), "v2t": None, "groups": None, "topk": None}}
    intervals = result_intervals_compute(phase=phase, ranks=ranks)
    assert intervals["metric"] == "R5"
    assert intervals["datasets"]["MSRVTT"]["score"] == intervals["datasets"]["MSRVTT"]["t2v"]["R5"]


def test_bad_ranks_lose_the_intervals_not_the_result(phase, caplog):
    bad = {"MSRVTT": {"t2v": np.array([np.nan]), "v2t": None, "groups": None, "topk": None}}
    assert result_intervals_compute(phase=phase, ranks=bad) is None
    assert "could not be computed" in caplog.text


def test_board_intervals_copies_bounds_per_dataset():
    interval = {"estimate": 2.0, "low": 1.0, "high": 3.0, "level": 0.95}
    stored = {
        "overall_score": interval,
        "datasets": {"D": {"score": interval, "t2v": {"R1": interval, "MedR": None}}},
    }
    overall, per_dataset = board_intervals(stored)
    assert overall == [1.0, 3.0]
    assert per_dataset["D"]["score"] == [1.0, 3.0] and per_dataset["D"]["MedR"] is None
    assert board_intervals(None) == (None, {})


def test_the_worker_reports_the_interval_stage(queued, monkeypatch):
    from leaderboard.services import evaluate

    stages = []
    original = evaluate._ProgressReporter.__call__

    def spy(self, stage, dataset, fraction):
        stages.append(stage)
        return original(self, stage, dataset, fraction)

    monkeypatch.setattr(evaluate._ProgressReporter, "__call__", spy)
    submission = queued()
    evaluate.submission_evaluate(submission_id=submission.id)
    assert STAGE_INTERVALS in stages
