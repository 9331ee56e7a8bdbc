"""One evaluation run: the claim and its lease, the heartbeat, progress, and how each failure ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from challenge.models import Submission
from challenge.services import submission_claim, submission_requeue_stale_now
from leaderboard.models import Result
from leaderboard.services import BAD_GROUND_TRUTH, LeaseLost, submission_evaluate
from leaderboard.services.evaluate import _Heartbeat, _ProgressReporter

Status = Submission.Status
pytestmark = pytest.mark.django_db


def _state(submission_id: int) -> tuple:
    s = Submission.objects.get(id=submission_id)
    result = (
        Result.objects.filter(submission_id=submission_id).values_list("primary_score", "metrics").first()
    )
    return s.status, s.error_message, s.attempts, result


def test_a_fresh_running_claim_is_left_alone_but_a_stale_one_is_taken_over(queued, settings):
    submission = queued()
    Submission.objects.filter(id=submission.id).update(status=Status.RUNNING, started_at=timezone.now())
    submission_evaluate(submission_id=submission.id)
    assert _state(submission.id)[0] == Status.RUNNING
    Submission.objects.filter(id=submission.id).update(heartbeat_at=timezone.now())
    submission_evaluate(submission_id=submission.id)
    assert _state(submission.id)[0] == Status.RUNNING  # a live lease is respected
    stale = timezone.now() - timedelta(seconds=settings.PENTATHLON_HEARTBEAT_STALE_AFTER + 5)
    Submission.objects.filter(id=submission.id).update(started_at=stale, heartbeat_at=stale)
    submission_evaluate(submission_id=submission.id)
    assert _state(submission.id)[0] == Status.FINISHED


def test_final_states_are_never_claimed(queued):
    submission = queued()
    for status in Submission.FINAL_STATES:
        Submission.objects.filter(id=submission.id).update(status=status)
        submission_evaluate(submission_id=submission.id)
        assert _state(submission.id)[0] == status
    assert not Result.objects.filter(submission_id=submission.id).exists()


def test_a_broken_ground_truth_fails_the_submission_without_blaming_the_participant(queued, phase):
    submission = queued()
    with open(phase.ground_truth.path, "wb") as handle:
        handle.write(b"broken")
    submission_evaluate(submission_id=submission.id)
    status, message, _, _ = _state(submission.id)
    assert status == Status.FAILED and message == BAD_GROUND_TRUTH


def test_progress_reports_stage_and_per_dataset_fractions(queued):
    submission = queued()
    submission_evaluate(submission_id=submission.id)
    progress = Submission.objects.get(id=submission.id).progress
    assert progress["stage"] == "done" and progress["fraction"] == 1.0
    assert set(progress["datasets"]) == {"MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"}


def test_a_dead_workers_row_is_requeued_by_the_sweeper_and_scored_exactly_once(
    queued, settings, django_capture_on_commit_callbacks
):
    submission = queued()
    claimed_at = submission_claim(submission_id=submission.id)  # a worker claims it, then dies
    dead_row = {"id": submission.id, "status": Status.RUNNING, "started_at": claimed_at}
    assert submission_requeue_stale_now() == []  # the lease is fresh
    stale = timezone.now() - timedelta(seconds=settings.PENTATHLON_HEARTBEAT_STALE_AFTER + 1)
    Submission.objects.filter(id=submission.id).update(heartbeat_at=stale)
    with django_capture_on_commit_callbacks(execute=True):
        assert submission_requeue_stale_now() == [submission.id]
    row = Submission.objects.get(id=submission.id)
    assert row.status == Status.FINISHED and row.attempts == 2 and row.scored_count == 1
    assert Result.objects.filter(submission_id=submission.id).count() == 1
    # The dead worker wakes up: its claim token no longer matches, its progress and heartbeat stop it.
    with pytest.raises(LeaseLost):
        _ProgressReporter(row=dead_row, datasets=["MSRVTT"])("scoring", "MSRVTT", 0.5)
    heartbeat = _Heartbeat(dead_row)
    heartbeat.beat()
    assert heartbeat.lost.is_set()
    # Duplicate messages (broker redelivery, a second sweep) are no-ops.
    submission_evaluate(submission_id=submission.id)
    submission_evaluate(submission_id=submission.id)
    assert Submission.objects.get(id=submission.id).scored_count == 1


# --- lost workers and their cap (SECURITY.md, findings 13 and 14) ------------------------------------


def test_a_redelivered_message_meeting_a_live_lease_asks_to_come_back_instead_of_being_dropped(
    queued, settings
):
    """A SIGKILLed pool process: its message is redelivered while the dead claim's lease is still fresh."""
    submission = queued()
    when = timezone.now() - timedelta(seconds=5)
    Submission.objects.filter(id=submission.id).update(status="running", started_at=when, heartbeat_at=when)
    come_back_in = submission_evaluate(submission_id=submission.id)
    stale_after = settings.PENTATHLON_HEARTBEAT_STALE_AFTER
    assert come_back_in is not None and stale_after - 10 < come_back_in <= stale_after
    assert Submission.objects.get(id=submission.id).status == "running"


def test_a_final_row_is_dropped_without_coming_back(queued):
    submission = queued()
    submission_evaluate(submission_id=submission.id)
    assert Submission.objects.get(id=submission.id).status == "finished"
    assert submission_evaluate(submission_id=submission.id) is None


def test_a_memory_blow_up_fails_the_submission_with_the_limit_and_refunds_it(queued, settings):
    """The scoring child runs under the worker's limit: an allocation beyond it (the test probe's, made
    inside the child where a hostile file's would be) fails the submission with the limit, refunded."""
    settings.PENTATHLON_WORKER_MEMORY_LIMIT_MB = 512
    settings.PENTATHLON_SCORING_TEST_PROBE = {"allocate_mib": 1024}
    submission = queued()
    submission_evaluate(submission_id=submission.id)
    row = Submission.objects.get(id=submission.id)
    assert row.status == "failed" and row.quota_refunded
    assert "stopped the worker" in row.error_message and "512 MiB" in row.error_message
