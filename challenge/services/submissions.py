"""The submission's one state machine: every write of `Submission.status` happens in this module.

    SUBMITTED -> QUEUED            create (the upload is accepted and sent for scoring on commit)
    QUEUED    -> RUNNING           claim (one conditional UPDATE: one worker wins)
    RUNNING   -> FINISHED | FAILED finish, fail
    RUNNING   -> QUEUED            release (a transient error), requeue (lease expired, re-score)
    FINISHED | FAILED -> QUEUED    requeue (re-score)
    SUBMITTED | QUEUED -> CANCELLED cancel
    RUNNING (lease expired) -> CANCELLED  cancel (the team gives up on a dead worker's row)
    RUNNING (lease expired) -> FAILED     the PENTATHLON_MAX_LOST_ATTEMPTS-th loss of its worker

A claim is a token: the row filter `{"id", "status": RUNNING, "started_at": <claim time>}`. Every write
of a running evaluation (heartbeat, progress, finish, fail, release) is guarded by it, so a worker whose
lease expired, and whose row was taken over, cannot write anything. One lease rule (`lease_expired`)
serves both the claim and the stale-row sweeper.

Accepting an upload (`submission_create`) lives in `challenge.services.acceptance`, the retention of
stored files (`submission_files_expire`) in `challenge.services.retention`; neither writes a status
but through `submission_transition`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Case, F, PositiveIntegerField, Q, When
from django.utils import timezone

from challenge.events import phase_boards_changed, submission_boards_changed
from challenge.models import Phase, Submission, Team, TeamMembership
from challenge.services import dispatch
from core.exceptions import ApplicationError, PermissionDeniedError

logger = logging.getLogger(__name__)
Status = Submission.Status

NOT_YOUR_SUBMISSION = "Only members of the submitting team can change this submission."
CANCEL_TOO_LATE = (
    "Only a submission that has not started running, or whose worker stopped answering, can be cancelled."
)
WORKER_LOST = (
    "The evaluation stopped the worker {times} times (the worker was killed or ran out of memory while "
    "scoring this file), so it was not tried again; check the file's size and layout against the "
    "starter kit. This submission does not count against your team's quota."
)
FINAL_NEEDS_FINISHED = "Only a finished submission can be chosen as the team's final submission."
FINAL_NOT_CHOSEN = (
    "The phase {phase!r} does not let teams choose a final submission: {rule}. Choosing one is "
    "possible only in phases where the team's selected submission counts."
)
PUBLIC_CHOICE_LOCKED = (
    "The organisers have locked which submissions of the phase {phase!r} are public; "
    "it can no longer be changed."
)


# --- the guarded transition and the lease ------------------------------------------------------------


def submission_transition(
    *, submission_id: int, from_states: Iterable[str], to_state: str, **fields: Any
) -> bool:
    """Guarded status change: one conditional UPDATE. Returns False when the row was not in `from_states`."""
    from_states = list(from_states)
    updated = Submission.objects.filter(id=submission_id, status__in=from_states).update(
        status=to_state, updated_at=timezone.now(), **fields
    )
    if updated and Status.FINISHED in (to_state, *from_states):  # a row joins or leaves the boards
        submission_boards_changed(submission_ids=[submission_id])
    return updated == 1


def lease_expired_before() -> datetime:
    """The lease threshold: a running row not heard from since then belongs to a dead worker."""
    return timezone.now() - timedelta(seconds=settings.PENTATHLON_HEARTBEAT_STALE_AFTER)


def lease_expired(*, before: datetime) -> Q:
    """The one lease rule: RUNNING, and its heartbeat (or, without one, its start) is older than `before`."""
    return Q(status=Status.RUNNING) & (
        Q(heartbeat_at__lt=before) | Q(heartbeat_at__isnull=True, started_at__lt=before)
    )


def claim_row(*, submission_id: int, claimed_at: datetime) -> dict[str, Any]:
    """The filter matching the row only while the claim taken at `claimed_at` still holds."""
    return {"id": submission_id, "status": Status.RUNNING, "started_at": claimed_at}


# --- one evaluation run: claim, heartbeat, progress, release, finish, fail ---------------------------


def submission_claim(*, submission_id: int) -> datetime | None:
    """QUEUED -> RUNNING, or take over a RUNNING row whose lease expired (a dead worker: no heartbeat
    for PENTATHLON_HEARTBEAT_STALE_AFTER seconds). One conditional UPDATE, so one claimer wins.

    Taking over an expired lease counts one lost attempt; the row whose lost attempts reach
    PENTATHLON_MAX_LOST_ATTEMPTS ends FAILED (WORKER_LOST, quota refunded) instead of being claimed.

    Returns the claim's start time (the claim token), or None when another worker holds the row or it is final.
    """
    expired = lease_expired(before=lease_expired_before())
    if submissions_give_up_lost(expired=expired & Q(id=submission_id)):
        return None
    now = timezone.now()
    claimed = (
        Submission.objects.filter(id=submission_id)
        .filter(Q(status=Status.QUEUED) | expired)
        .update(
            status=Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            updated_at=now,
            attempts=F("attempts") + 1,
            lost_attempts=Case(
                When(status=Status.RUNNING, then=F("lost_attempts") + 1),
                default=F("lost_attempts"),
                output_field=PositiveIntegerField(),
            ),
            error_message="",
            progress={"stage": "starting", "fraction": 0.0, "datasets": {}},
        )
    )
    return now if claimed else None


def submission_lease_left(*, submission_id: int) -> float | None:
    """Seconds until the lease of a RUNNING row expires (0 when it already has), or None when not RUNNING.

    A redelivered message that meets a row held by a live lease asks this to come back once the lease
    could have expired: the worker holding it may have died with its message (SIGKILL of a pool process).
    """
    row = Submission.objects.filter(id=submission_id, status=Status.RUNNING).values(
        "heartbeat_at", "started_at"
    )
    found = row.first()
    if found is None:
        return None
    last_heard = found["heartbeat_at"] or found["started_at"]
    if last_heard is None:
        return 0.0
    expires = last_heard + timedelta(seconds=settings.PENTATHLON_HEARTBEAT_STALE_AFTER)
    return max((expires - timezone.now()).total_seconds(), 0.0)


def submissions_give_up_lost(*, expired: Q) -> list[int]:
    """FAIL the rows matching `expired` (an expired lease) that have already lost
    PENTATHLON_MAX_LOST_ATTEMPTS - 1 claims with their worker: this loss is the last one allowed.

    The message says the evaluation stopped the worker; the quota is refunded; the team is told once.
    Guarded UPDATEs, so a row is given up at most once. Returns the ids given up.
    """
    from challenge.notifications import submission_notify_final

    limit = max(int(settings.PENTATHLON_MAX_LOST_ATTEMPTS), 1)
    doomed = expired & Q(lost_attempts__gte=limit - 1)
    now = timezone.now()
    given_up = []
    for submission_id in Submission.objects.filter(doomed).values_list("id", flat=True):
        if Submission.objects.filter(doomed, id=submission_id).update(
            status=Status.FAILED,
            lost_attempts=F("lost_attempts") + 1,
            error_message=WORKER_LOST.format(times=limit),
            quota_refunded=True,
            finished_at=now,
            updated_at=now,
            progress={"stage": "stopped: the worker was lost", "fraction": 0.0, "datasets": {}},
        ):
            given_up.append(submission_id)
    for submission_id in given_up:
        logger.warning(
            "submission %s: lost its worker %d times; failed, quota refunded", submission_id, limit
        )
        transaction.on_commit(partial(submission_notify_final, submission_id=submission_id))
    return given_up


def submission_heartbeat(*, row: Mapping[str, Any]) -> bool:
    """Renew the lease of a claimed row. False when the claim no longer holds (the lease was lost)."""
    return bool(Submission.objects.filter(**row).update(heartbeat_at=timezone.now()))


def submission_progress(*, row: Mapping[str, Any], progress: dict[str, Any]) -> bool:
    """Record the run's progress (and renew its lease). False when the claim no longer holds."""
    return bool(Submission.objects.filter(**row).update(heartbeat_at=timezone.now(), progress=progress))


def submission_release(*, row: Mapping[str, Any]) -> bool:
    """RUNNING -> QUEUED after a transient error, for the task's retry to claim it again."""
    return bool(Submission.objects.filter(**row).update(status=Status.QUEUED, updated_at=timezone.now()))


def submission_finish(*, row: Mapping[str, Any], progress: dict[str, Any]) -> bool:
    """RUNNING -> FINISHED, counting one more scoring. Call it in the transaction storing the result."""
    now = timezone.now()
    finished = bool(
        Submission.objects.filter(**row).update(
            status=Status.FINISHED,
            finished_at=now,
            updated_at=now,
            progress=progress,
            scored_count=F("scored_count") + 1,
        )
    )
    if finished:
        submission_boards_changed(submission_ids=[row["id"]])
    return finished


def submission_fail(*, row: Mapping[str, Any], message: str, refund: bool = False) -> bool:
    """-> FAILED with a message the submitter can read, if the row still matches `row`. Not retried.

    `refund`: the failure is the server's limit, not the team's file alone (e.g. the worker's memory
    limit), so the submission is marked as not counting against the quota.
    """
    now = timezone.now()
    extra = {"quota_refunded": True} if refund else {}
    failed = bool(
        Submission.objects.filter(**row).update(
            status=Status.FAILED, error_message=message, finished_at=now, updated_at=now, **extra
        )
    )
    if failed:  # a re-score that fails drops the row's earlier result from the boards
        submission_boards_changed(submission_ids=[row["id"]])
    return failed


def submission_mark_failed(
    *, submission_id: int, message: str, from_states: Iterable[str] = (Status.QUEUED, Status.RUNNING)
) -> bool:
    """`submission_fail` for a row in any of `from_states`, whoever claimed it."""
    return submission_fail(row={"id": submission_id, "status__in": list(from_states)}, message=message)


# --- re-queueing: re-scores and rows a broker or worker lost -------------------------------------------


@transaction.atomic
def phase_rescore(*, phase: Phase) -> int:
    """Queue every finished, failed or running submission of the phase for scoring again (e.g. after a fix).

    Returns the number of submissions queued. Their previous results stay visible until replaced.
    A submission being scored right now is queued again too: the running evaluation read the old
    ground truth, and its claim (status RUNNING since its start time) no longer matches, so its
    result is discarded when it finishes. The latest scorer run wins; nothing is scored twice into
    the table and no stale result survives a re-score.
    """
    rescorable = (Status.FINISHED, Status.FAILED, Status.RUNNING)
    ids = list(
        Submission.objects.filter(phase=phase, status__in=rescorable)
        .exclude(file="")  # a failed submission whose file the retention period deleted
        .values_list("id", flat=True)
    )
    for submission_id in ids:
        submission_transition(
            submission_id=submission_id,
            from_states=rescorable,
            to_state=Status.QUEUED,
            queued_at=timezone.now(),
            error_message="",
            progress={},
            lost_attempts=0,
        )
        dispatch.evaluation_enqueue_on_commit(submission_id=submission_id)
    return len(ids)


def submission_requeue_stale(
    *, queued_before: datetime, running_before: datetime, heartbeat_before: datetime | None = None
) -> list[int]:
    """Re-send the evaluation message of rows a broker or worker may have lost. Safe to run any time.

    * QUEUED rows queued before `queued_before` (a message the broker may have lost) are sent again;
      their `queued_at` is bumped so one row gets at most one extra message per period.
    * RUNNING rows whose lease expired (a dead worker), i.e. a heartbeat (or, without one, a start)
      older than `heartbeat_before` (default: `running_before`), are put back to QUEUED by a
      guarded UPDATE and sent again. The dead worker's claim no longer matches the row, so even if it
      wakes up it cannot store a result: nothing is scored twice. Each counts one lost attempt; the
      loss that reaches PENTATHLON_MAX_LOST_ATTEMPTS fails the row instead (`submissions_give_up_lost`).
    """
    now = timezone.now()
    expired = lease_expired(before=heartbeat_before or running_before)
    ids: list[int] = []
    with transaction.atomic():
        submissions_give_up_lost(expired=expired)
        for submission_id in Submission.objects.filter(expired).values_list("id", flat=True):
            if Submission.objects.filter(expired, id=submission_id).update(
                status=Status.QUEUED,
                queued_at=now,
                updated_at=now,
                lost_attempts=F("lost_attempts") + 1,
                progress={
                    "stage": "re-queued (the worker stopped answering)",
                    "fraction": 0.0,
                    "datasets": {},
                },
            ):
                ids.append(submission_id)
        for submission_id in Submission.objects.filter(
            status=Status.QUEUED, queued_at__lt=queued_before
        ).values_list("id", flat=True):
            if Submission.objects.filter(
                id=submission_id, status=Status.QUEUED, queued_at__lt=queued_before
            ).update(queued_at=now):
                ids.append(submission_id)
        for submission_id in ids:
            dispatch.evaluation_enqueue_on_commit(submission_id=submission_id)
    if ids:
        logger.warning("re-sent the evaluation of %d stale submission(s): %s", len(ids), ids)
    return ids


def submission_requeue_stale_now() -> list[int]:
    """`submission_requeue_stale` with the configured bounds (the periodic task's entry point)."""
    now = timezone.now()
    return submission_requeue_stale(
        queued_before=now - timedelta(seconds=settings.PENTATHLON_REQUEUE_QUEUED_AFTER),
        heartbeat_before=now - timedelta(seconds=settings.PENTATHLON_HEARTBEAT_STALE_AFTER),
        running_before=now - timedelta(seconds=settings.PENTATHLON_HEARTBEAT_STALE_AFTER),
    )


# --- what the submitting team changes -----------------------------------------------------------------


def submission_cancel(*, submission: Submission, user: User) -> bool:
    """Cancel a submission that has not started running, or a running one whose lease expired (its
    worker died). Cancelled submissions do not count to the quota. A live worker's row is refused:
    its result would arrive anyway; a dead worker's claim no longer matches a cancelled row."""
    if not TeamMembership.objects.filter(team_id=submission.team_id, user=user).exists():
        raise PermissionDeniedError(NOT_YOUR_SUBMISSION)
    now = timezone.now()
    cancellable = Q(status__in=[Status.SUBMITTED, Status.QUEUED]) | lease_expired(
        before=lease_expired_before()
    )
    if not Submission.objects.filter(cancellable, id=submission.id).update(
        status=Status.CANCELLED, finished_at=now, updated_at=now
    ):
        raise ApplicationError(CANCEL_TOO_LATE)
    return True


def submission_cancel_as_organiser(*, submission: Submission, reason: str) -> bool:
    """The organisers cancel a waiting submission (or a dead worker's); the team reads `reason` as its
    message. Same guard as `submission_cancel`, without the membership check (callers check the role)."""
    now = timezone.now()
    cancellable = Q(status__in=[Status.SUBMITTED, Status.QUEUED]) | lease_expired(
        before=lease_expired_before()
    )
    message = (
        f"Cancelled by the organisers: {reason.strip()}" if reason.strip() else "Cancelled by the organisers."
    )
    if not Submission.objects.filter(cancellable, id=submission.id).update(
        status=Status.CANCELLED, finished_at=now, updated_at=now, error_message=message
    ):
        raise ApplicationError(CANCEL_TOO_LATE)
    return True


@transaction.atomic
def submission_update(
    *,
    submission: Submission,
    user: User,
    is_public: bool | None = None,
    is_final: bool | None = None,
) -> Submission:
    """Change what the team shows: the public flag, and which finished submission is its final one."""
    if not TeamMembership.objects.filter(team_id=submission.team_id, user=user).exists():
        raise PermissionDeniedError(NOT_YOUR_SUBMISSION)
    fields = ["updated_at"]
    if is_public is not None and is_public != submission.is_public:
        if submission.phase.public_choice_locked:
            raise ApplicationError(PUBLIC_CHOICE_LOCKED.format(phase=submission.phase.title))
        submission.is_public = is_public
        fields.append("is_public")
    if is_final is not None:
        if is_final:
            phase = submission.phase
            if phase.final_submission != Phase.FinalSubmission.SELECTED:
                rule = phase.get_final_submission_display()
                raise ApplicationError(
                    FINAL_NOT_CHOSEN.format(phase=phase.title, rule=rule[:1].lower() + rule[1:])
                )
            if submission.status != Status.FINISHED:
                raise ApplicationError(FINAL_NEEDS_FINISHED)
            Team.objects.select_for_update().filter(id=submission.team_id).first()
            Submission.objects.filter(
                team_id=submission.team_id, phase_id=submission.phase_id, is_final=True
            ).exclude(id=submission.id).update(is_final=False)
        submission.is_final = is_final
        fields.append("is_final")
    # created_by is NULL once the uploader deleted their account; the team still owns the row.
    submission.full_clean(exclude=["created_by"])
    submission.save(update_fields=fields)
    phase_boards_changed(phase_ids=[submission.phase_id])
    return submission
