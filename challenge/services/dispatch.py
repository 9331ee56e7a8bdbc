"""Queue routing and enqueueing of evaluations.

The evaluation task is sent by its permanent registered name, so this app never imports `workers`
(the layer above it): the message names the task, whichever process consumes it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.conf import settings
from django.db import transaction

from challenge.models import Phase, Submission

if TYPE_CHECKING:
    from evaluation.io import SubmissionManifest

logger = logging.getLogger(__name__)

#: The registered name of `workers.tasks.submission_evaluate_task`; queued messages refer to it.
EVALUATE_TASK = "workers.submission_evaluate"
#: The registered name of `workers.tasks.phase_intervals_refresh_task`.
INTERVALS_REFRESH_TASK = "workers.phase_intervals_refresh"


def manifest_summary(manifest: SubmissionManifest) -> dict[str, Any]:
    """What routing needs from `evaluation.io.inspect_submission`'s manifest, as JSON: kinds and declared bytes."""
    return {
        "kinds": dict(manifest.kinds),
        "declared_bytes": int(
            sum(info.nbytes for entry in manifest.entries.values() for info in entry.arrays.values())
        ),
    }


def evaluation_queue(*, manifest: dict[str, Any]) -> str:
    """The queue a submission is scored on, decided from its stored header-only manifest.

    With GPU workers configured (PENTATHLON_GPU_QUEUE_ENABLED), embeddings (they need a matrix
    product) and submissions declaring more than PENTATHLON_GPU_MIN_BYTES of arrays go to the GPU
    queue; everything else, and everything when no GPU worker exists, to the CPU queue. Top-k lists
    never need a GPU. A code phase's program goes to PENTATHLON_CODE_QUEUE when set (the worker that
    may start containers), else like predictions.
    """
    gpu_queue: str = settings.PENTATHLON_GPU_QUEUE
    cpu_queue: str = settings.PENTATHLON_CPU_QUEUE
    if (manifest or {}).get("program") is not None:  # a code phase's program: the GPU if its phase asks
        gpu = bool(manifest.get("gpu")) and settings.PENTATHLON_GPU_QUEUE_ENABLED
        if gpu:
            return gpu_queue
        code_queue: str = settings.PENTATHLON_CODE_QUEUE
        return code_queue or cpu_queue
    if settings.PENTATHLON_GPU_QUEUE_ENABLED:
        kinds = set((manifest or {}).get("kinds", {}).values())
        if (
            "embeddings" in kinds
            or int((manifest or {}).get("declared_bytes", 0)) > settings.PENTATHLON_GPU_MIN_BYTES
        ):
            return gpu_queue
    return cpu_queue


def task_send(name: str, args: tuple[object, ...], **options: Any) -> Any:
    """Send a task by its registered name. `send_task` ignores eager mode, so in eager mode (the tests,
    a single-process demo) the registered task is looked up and applied like `apply_async` would."""
    app = current_app
    if app.conf.task_always_eager:
        if name not in app.tasks:
            app.loader.import_default_modules()  # runs the autodiscovery of the tasks' modules
        return app.tasks[name].apply_async(args, **options)
    return app.send_task(name, args, **options)


def submission_enqueue_now(*, submission_id: int, countdown: float | None = None) -> str | None:
    """Send the evaluation message now, routed and time-limited per the submission's phase.

    Returns the queue, or None when the row is gone. Sending a message twice is harmless: the
    worker's guarded claim lets only one of them score. With `countdown` the message is to be run
    that many seconds from now (a redelivery that met a live lease comes back once it may have
    expired); in eager mode such a message is not sent (it would run at once, in a loop), and the
    periodic sweeper re-sends the row once its lease expired.
    """
    if countdown is not None and current_app.conf.task_always_eager:
        logger.info("submission %s: not re-sending in eager mode; the sweeper will", submission_id)
        return None
    row = (
        Submission.objects.filter(id=submission_id)
        .select_related("phase")
        .only("id", "manifest", "phase__evaluation_soft_limit_s", "phase__evaluation_hard_limit_s")
        .first()
    )
    if row is None:
        return None
    queue = evaluation_queue(manifest=row.manifest)
    soft, hard = row.phase.time_limits
    Submission.objects.filter(id=submission_id).exclude(queue=queue).update(queue=queue)
    timing = {"countdown": countdown} if countdown is not None else {}
    task_send(EVALUATE_TASK, (submission_id,), queue=queue, soft_time_limit=soft, time_limit=hard, **timing)
    return queue


def phase_interval_settings_changed(*, before: Phase, after: Phase) -> bool:
    """Whether a phase's stored intervals are stale after an edit: shown or not, or another level."""
    return bool(before.intervals_enabled) != bool(after.intervals_enabled) or float(
        before.interval_level
    ) != float(after.interval_level)


def intervals_refresh_on_commit(*, phase_id: int) -> None:
    """Recompute a phase's stored intervals from the stored ranks (no re-score), after the commit.
    `robust`: a broker outage loses only the refresh; saving the phase again retries it."""
    transaction.on_commit(lambda: task_send(INTERVALS_REFRESH_TASK, (phase_id,)), robust=True)


def evaluation_enqueue_on_commit(*, submission_id: int) -> None:
    """Enqueue on commit. `robust`: a broker outage must not turn an accepted upload into an error;
    the row stays QUEUED and the periodic sweeper sends its message again."""
    transaction.on_commit(lambda: submission_enqueue_now(submission_id=submission_id), robust=True)
