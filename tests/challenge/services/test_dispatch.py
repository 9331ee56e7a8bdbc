"""Queue routing and sending the evaluation task by its registered name."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from celery import current_app
from django.core.files import File
from django.utils import timezone

from challenge.models import Submission
from challenge.services import (
    EVALUATE_TASK,
    evaluation_queue,
    submission_create,
    submission_enqueue_now,
    submission_requeue_stale_now,
)

Status = Submission.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def not_eager():
    """Messages go to the broker, as in production (the test settings run tasks eagerly)."""
    current_app.conf.task_always_eager = False
    yield
    current_app.conf.task_always_eager = True


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


@pytest.mark.parametrize(
    ("code_queue", "gpu", "manifest", "queue"),
    [
        ("", False, {"program": {"entry": "main.py"}}, "cpu"),
        ("code", False, {"program": {"entry": "main.py"}}, "code"),
        ("code", True, {"program": {"entry": "main.py"}, "gpu": True}, "gpu"),
        ("code", True, {"kinds": {"MSRVTT": "similarity"}, "declared_bytes": 10}, "cpu"),
    ],
)
def test_programs_go_to_the_code_queue_when_one_is_set(settings, code_queue, gpu, manifest, queue):
    """Only programs: predictions never reach the worker that holds the Docker socket."""
    settings.PENTATHLON_CODE_QUEUE = code_queue
    settings.PENTATHLON_GPU_QUEUE_ENABLED = gpu
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
        mock.patch("challenge.services.dispatch.task_send") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        submission_requeue_stale_now()  # nothing stale yet: nothing sent
        Submission.objects.filter(id=submission.id).update(queued_at=timezone.now() - timedelta(days=1))
        submission_requeue_stale_now()
    send.assert_called_once_with(
        EVALUATE_TASK, (submission.id,), queue="gpu", soft_time_limit=100, time_limit=120
    )
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


def test_a_broker_outage_at_upload_keeps_the_submission_queued_for_the_sweeper(
    not_eager, participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    path = make_submission_file("npz")
    with (
        mock.patch.object(current_app, "send_task", side_effect=OperationalError("down")),
        django_capture_on_commit_callbacks(execute=True),
        open(path, "rb") as handle,
    ):
        submission = submission_create(
            user=participant, phase=phase, file=File(handle, name=path.name), method_name="outage"
        )
    assert Submission.objects.get(id=submission.id).status == Status.QUEUED


def test_the_task_is_sent_by_its_registered_name_without_importing_workers(not_eager, queued, phase):
    from workers.tasks import submission_evaluate_task

    submission = queued()
    with (
        mock.patch.object(current_app, "send_task") as send,
    ):
        assert submission_enqueue_now(submission_id=submission.id) == "cpu"
    soft, hard = phase.time_limits
    send.assert_called_once_with(
        EVALUATE_TASK, (submission.id,), queue="cpu", soft_time_limit=soft, time_limit=hard
    )
    assert submission_evaluate_task.name == EVALUATE_TASK


def test_in_eager_mode_the_registered_task_runs_inline(queued):
    submission = queued()
    assert Submission.objects.get(id=submission.id).status == Status.QUEUED
    submission_enqueue_now(submission_id=submission.id)
    assert Submission.objects.get(id=submission.id).status == Status.FINISHED
