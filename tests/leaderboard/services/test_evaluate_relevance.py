"""A challenge of its own: dataset names that are not the Pentathlon's, version-2 ground truth, mAP@10 ranking."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files import File

from challenge.services import phase_ground_truth_set, submission_create
from evaluation.ground_truth import GroundTruth, dataset_truth, write_ground_truth
from evaluation.metrics.relevance import relevance_metrics
from leaderboard.models import Result
from leaderboard.services import submission_evaluate
from tests.factories import (
    ChallengeFactory,
    DatasetFactory,
    MembershipFactory,
    PhaseFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_an_audio_challenge_ranks_by_map_at_10_on_version_2_ground_truth(
    tmp_path, django_capture_on_commit_callbacks
):
    challenge = ChallengeFactory(slug="audio", title="Audio retrieval", primary_metric="mAP@10")
    DatasetFactory(challenge=challenge, name="MyClips", order=0)
    rng = np.random.default_rng(0)
    pairs = [(q, int(i)) for q in range(12) for i in rng.choice(18, rng.integers(1, 4), replace=False)]
    query, item = np.array(pairs).T
    truth = dataset_truth(
        name="myclips",  # the organiser's file may spell it in another case
        videos=[f"clip{i}" for i in range(20)],  # clips 18 and 19 are distractors
        query_ids=[f"caption{q}" for q in range(12)],
        rel_query=query,
        rel_item=item,
        rel_grade=rng.choice([0.5, 1.0], size=query.size),
    )
    write_ground_truth(tmp_path / "gt.h5", GroundTruth("Audio retrieval", "val", {"myclips": truth}))
    # as uploaded: the participant's rows follow the organiser's query order (a blind phase would
    # publish its own)
    phase = PhaseFactory(
        challenge=challenge, slug="val", max_submissions_per_day=None, query_order="as_uploaded"
    )
    with open(tmp_path / "gt.h5", "rb") as handle:
        phase_ground_truth_set(phase=phase, file=File(handle))  # once refused: "unknown dataset name"
    split = phase.splits.get()
    assert (split.dataset.name, split.num_queries, split.num_videos) == ("MyClips", 12, 20)

    user = UserFactory()
    MembershipFactory(team=TeamFactory(challenge=challenge, name="Gamma"), user=user, role="owner")
    sims = rng.standard_normal((12, 20)).astype(np.float32)
    sims[query, item] += 1.5
    np.savez(tmp_path / "s.npz", MyClips=sims)
    with django_capture_on_commit_callbacks(execute=False), open(tmp_path / "s.npz", "rb") as handle:
        submission = submission_create(
            user=user, phase=phase, file=File(handle, name="s.npz"), method_name="m"
        )
    submission_evaluate(submission_id=submission.id)
    submission.refresh_from_db()
    assert submission.status == "finished", submission.error_message
    result = Result.objects.get(submission=submission)
    want = relevance_metrics(sims, truth.relevance, metrics=["mAP@10"], directions=["t2v"])["t2v"]["mAP@10"]
    assert result.primary_score == pytest.approx(want)
