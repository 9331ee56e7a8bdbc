"""Queue routing, per-phase time limits, the heartbeat lease and the sweeper: nothing lost, nothing scored twice."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.files import File
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from challenge.models import Submission
from challenge.services import evaluation_queue, submission_create, submission_requeue_stale_now
from leaderboard.models import Result
from leaderboard.services import (
    LeaseLost,
    _Heartbeat,
    _ProgressReporter,
    submission_claim,
    submission_evaluate,
)

Status = Submission.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(participant, phase, make_submission_file, django_capture_on_commit_callbacks):
    def make(path=None) -> Submission:
        path = path or make_submission_file("npz")
        with django_capture_on_commit_callbacks(execute=False), open(path, "rb") as handle:
            return submission_create(
                user=participant,
                phase=phase,
                file=File(handle, name=path.name),
                method_name="reliability test",
            )

    return make


@pytest.mark.parametrize(
    ("gpu", "manifest", "queue"),
    [
        (False, {"kinds": {"MSRVTT": "embeddings"}, "declared_bytes": 10}, "cpu"),
        (True, {"kinds": {"MSRVTT": "embeddings"}, "declared_bytes": 10}, "gpu"),
        (True, {"kinds": {"MSRVTT": "similarity"}, "declared_bytes": 10}, "cpu"),
        (True, {"kinds": {"MSRVTT": "similarity"}, "declared_bytes": 2000}, "gpu"),
        (True, {"kinds": {"MSRVTT": "topk"}, "declared_bytes": 1000}, "cpu"),
        (True, {}, "cpu"),
    ],
)
def test_evaluation_queue_is_decided_from_the_stored_manifest(settings, gpu, manifest, queue):
    settings.PENTATHLON_GPU_QUEUE_ENABLED = gpu
    settings.PENTATHLON_GPU_MIN_BYTES = 1000
    assert evaluation_queue(manifest=manifest) == queue


def test_upload_stores_its_manifest_and_is_sent_to_its_queue_with_the_phase_limits(
    queued, phase, settings, django_capture_on_commit_callbacks
):
    settings.PENTATHLON_GPU_QUEUE_ENABLED, settings.PENTATHLON_GPU_MIN_BYTES = True, 1
    phase.evaluation_soft_limit_s, phase.evaluation_hard_limit_s = 100, 120
    phase.full_clean()
    phase.save()
    submission = queued()
    assert (
        set(submission.manifest["kinds"].values()) == {"similarity"}
        and submission.manifest["declared_bytes"] > 1
    )
    with (
        mock.patch("workers.tasks.submission_evaluate_task.apply_async") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        submission_requeue_stale_now()  # nothing stale yet: nothing sent
        Submission.objects.filter(id=submission.id).update(queued_at=timezone.now() - timedelta(days=1))
        submission_requeue_stale_now()
    send.assert_called_once_with((submission.id,), queue="gpu", soft_time_limit=100, time_limit=120)
    assert Submission.objects.get(id=submission.id).queue == "gpu"


def test_phase_limits_are_validated(phase, settings):
    from django.core.exceptions import ValidationError

    phase.evaluation_soft_limit_s, phase.evaluation_hard_limit_s = 200, 100
    with pytest.raises(ValidationError, match="soft limit"):
        phase.full_clean()
    phase.evaluation_soft_limit_s, phase.evaluation_hard_limit_s = (
        100,
        settings.PENTATHLON_EVALUATION_MAX_LIMIT + 1,
    )
    with pytest.raises(ValidationError, match="PENTATHLON_EVALUATION_MAX_LIMIT"):
        phase.full_clean()


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


def test_a_broker_outage_at_upload_keeps_the_submission_queued_for_the_sweeper(
    participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    path = make_submission_file("npz")
    with (
        mock.patch(
            "workers.tasks.submission_evaluate_task.apply_async", side_effect=OperationalError("down")
        ),
        django_capture_on_commit_callbacks(execute=True),
        open(path, "rb") as handle,
    ):
        submission = submission_create(
            user=participant, phase=phase, file=File(handle, name=path.name), method_name="outage"
        )
    assert Submission.objects.get(id=submission.id).status == Status.QUEUED


def test_system_check_refuses_a_visibility_timeout_below_the_longest_evaluation(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
    with pytest.raises(SystemCheckError, match="workers.E001"):
        call_command("check")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 10 * settings.PENTATHLON_EVALUATION_MAX_LIMIT
    }
    settings.PENTATHLON_HEARTBEAT_STALE_AFTER = settings.PENTATHLON_HEARTBEAT_INTERVAL
    with pytest.raises(SystemCheckError, match="workers.E003"):
        call_command("check")
