"""Celery interface only: tasks take ids, import their service lazily and hold no logic.

Task names are permanent: queued messages refer to them by name across deployments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from core.exceptions import TransientEvaluationError

#: Only these are retried; a bad submission is a user error and ends as FAILED.
TRANSIENT_ERRORS = (TransientEvaluationError, DatabaseOperationalError, BrokerOperationalError)
MAX_RETRIES = 5

_P = ParamSpec("_P")
_R = TypeVar("_R")


@shared_task(
    bind=True,
    name="workers.submission_evaluate",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def submission_evaluate_task(self: Task[[int], None], submission_id: int) -> None:
    """Score one submission; a message that met a live lease is sent again for when it may have expired."""
    from challenge.services.dispatch import submission_enqueue_now
    from leaderboard.services import submission_evaluate

    come_back_in = submission_evaluate(
        submission_id=submission_id, final_attempt=self.request.retries >= MAX_RETRIES
    )
    if come_back_in is not None:
        submission_enqueue_now(submission_id=submission_id, countdown=come_back_in)


def _housekeeping_task(
    *, name: str, soft_time_limit: int, time_limit: int
) -> Callable[[Callable[_P, _R]], Task[_P, _R]]:
    """A maintenance task (sweeper, expiry, refresh): a permanent name, time limits, acked late and
    retried with backoff on transient errors only; one place for the options they share."""
    return shared_task(
        name=name,
        acks_late=True,
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
        autoretry_for=TRANSIENT_ERRORS,
        retry_backoff=5,
        max_retries=3,
    )


@_housekeeping_task(name="workers.submission_requeue_stale", soft_time_limit=60, time_limit=90)
def submission_requeue_stale_task() -> None:
    """Periodic (Celery beat): re-send evaluations lost by a dead worker or broker."""
    from challenge.services import submission_requeue_stale_now

    submission_requeue_stale_now()


@_housekeeping_task(name="workers.chunked_upload_expire", soft_time_limit=300, time_limit=360)
def chunked_upload_expire_task() -> None:
    """Periodic (Celery beat): delete chunked uploads abandoned for PENTATHLON_UPLOAD_EXPIRES_AFTER seconds."""
    from challenge.services import chunked_upload_expire_now

    chunked_upload_expire_now()


@_housekeeping_task(name="workers.phase_intervals_refresh", soft_time_limit=1800, time_limit=1860)
def phase_intervals_refresh_task(phase_id: int) -> None:
    """Recompute a phase's stored intervals from the stored ranks, after its interval settings changed."""
    from challenge.models import Phase
    from leaderboard.services.intervals import phase_intervals_refresh

    phase = Phase.objects.filter(id=phase_id).select_related("challenge").first()
    if phase is not None:
        phase_intervals_refresh(phase=phase)


@_housekeeping_task(name="workers.submission_files_expire", soft_time_limit=300, time_limit=360)
def submission_files_expire_task() -> None:
    """Periodic (beat, or the worker's embedded beat): delete the stored files of failed and cancelled
    submissions older than PENTATHLON_FAILED_FILE_RETENTION_DAYS."""
    from challenge.services import submission_files_expire_now

    submission_files_expire_now()
