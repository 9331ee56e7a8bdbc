"""The Celery tasks: permanent names, retry policy, and that running one twice changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from challenge.models import Submission
from leaderboard.models import Result
from leaderboard.services import STORAGE_GAVE_UP
from workers.tasks import MAX_RETRIES, TRANSIENT_ERRORS, submission_evaluate_task

Status = Submission.Status
pytestmark = pytest.mark.django_db


def _state(submission_id: int) -> tuple:
    s = Submission.objects.get(id=submission_id)
    result = (
        Result.objects.filter(submission_id=submission_id).values_list("primary_score", "metrics").first()
    )
    return s.status, s.error_message, s.attempts, result


def test_task_has_a_permanent_registered_name():
    from config.celery import app

    assert submission_evaluate_task.name == "workers.submission_evaluate"
    registered = app.tasks["workers.submission_evaluate"]
    assert registered.__name__ == "submission_evaluate_task" and registered.__module__ == "workers.tasks"


def test_task_is_configured_for_long_safe_evaluations():
    assert submission_evaluate_task.acks_late is True
    assert submission_evaluate_task.soft_time_limit < submission_evaluate_task.time_limit
    assert set(submission_evaluate_task.autoretry_for) == set(TRANSIENT_ERRORS)
    from evaluation.errors import SubmissionError

    assert not any(issubclass(SubmissionError, exc) for exc in submission_evaluate_task.autoretry_for)


def test_running_the_task_twice_gives_the_same_final_state(queued):
    submission = queued()
    submission_evaluate_task(submission.id)
    first = _state(submission.id)
    submission_evaluate_task(submission.id)
    assert _state(submission.id) == first
    assert first[0] == Status.FINISHED and first[2] == 1
    assert Result.objects.filter(submission_id=submission.id).count() == 1


def test_a_user_error_fails_once_and_is_not_retried(queued, nan_submission_file):
    submission = queued(nan_submission_file("MSRVTT"))
    submission_evaluate_task.apply(args=[submission.id])
    status, message, attempts, result = _state(submission.id)
    assert status == Status.FAILED and attempts == 1 and result is None
    assert "MSRVTT" in message


@pytest.fixture
def eager_retries():
    """Eager retries run inline only when failures do not propagate; restore the test default after."""
    from config.celery import app

    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = True


def test_missing_stored_file_is_retried_then_failed_with_a_clear_message(queued, eager_retries):
    submission = queued()
    submission.file.storage.delete(submission.file.name)
    submission_evaluate_task.apply(args=[submission.id])
    status, message, attempts, _ = _state(submission.id)
    assert status == Status.FAILED and message == STORAGE_GAVE_UP
    assert attempts == MAX_RETRIES + 1


def test_requeue_stale_recovers_lost_messages_and_dead_workers(
    queued, settings, django_capture_on_commit_callbacks
):
    from workers.tasks import submission_requeue_stale_task

    lost, dead, fresh = queued(), queued(), queued()
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    Submission.objects.filter(id=lost.id).update(queued_at=long_ago)
    Submission.objects.filter(id=dead.id).update(status=Status.RUNNING, started_at=long_ago)
    Submission.objects.filter(id=fresh.id).update(status=Status.RUNNING, started_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        submission_requeue_stale_task()
    # the two re-sent messages (the finishes they lead to add board-version bumps)
    assert len([c for c in callbacks if "evaluation_enqueue" in c.__qualname__]) == 2
    assert _state(lost.id)[0] == _state(dead.id)[0] == Status.FINISHED
    assert _state(fresh.id)[0] == Status.RUNNING
    assert submission_requeue_stale_task.name == "workers.submission_requeue_stale"


def test_chunked_upload_expire_task_is_scheduled_and_idempotent(participant, phase, settings, tmp_path):
    from django.conf import settings as live_settings

    from challenge.models import ChunkedUpload
    from challenge.services import chunked_upload_create, chunked_upload_partial_path
    from config.celery import app
    from workers.tasks import chunked_upload_expire_task

    assert chunked_upload_expire_task.name == "workers.chunked_upload_expire"
    assert app.tasks["workers.chunked_upload_expire"].__name__ == "chunked_upload_expire_task"
    assert any(
        entry["task"] == "workers.chunked_upload_expire"
        for entry in live_settings.CELERY_BEAT_SCHEDULE.values()
    )
    settings.UPLOAD_PARTIAL_DIR = tmp_path
    upload = chunked_upload_create(user=participant, phase=phase, filename="x.npz", size=10, metadata={})
    ChunkedUpload.objects.filter(id=upload.id).update(
        updated_at=timezone.now() - timedelta(seconds=settings.UPLOAD_EXPIRES_AFTER + 60)
    )
    for _ in range(2):
        chunked_upload_expire_task()
        assert not ChunkedUpload.objects.exists() and not chunked_upload_partial_path(upload).exists()


def test_a_message_that_met_a_live_lease_is_sent_again_for_when_it_may_have_expired(queued, monkeypatch):
    """SECURITY.md, finding 13: not dropped and acked (a SIGKILLed pool process's redelivered message)."""
    from celery import current_app

    from challenge.services import dispatch

    sent = []
    monkeypatch.setattr(
        dispatch, "task_send", lambda name, args, **options: sent.append((name, args, options))
    )
    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    submission = queued()
    when = timezone.now() - timedelta(seconds=5)
    Submission.objects.filter(id=submission.id).update(
        status=Status.RUNNING, started_at=when, heartbeat_at=when
    )
    submission_evaluate_task.run(submission.id)
    assert len(sent) == 1
    name, args, options = sent[0]
    assert (name, args) == ("workers.submission_evaluate", (submission.id,))
    assert 0 < options["countdown"] <= 61
