"""One evaluation run, from claim to result: the orchestration between the queue and the scorer.

`submission_evaluate` is the one deliberate exception to "everything in one transaction": the
claim (QUEUED -> RUNNING) commits first, the long evaluation runs outside any transaction, and the
result plus the status change are written together in one short atomic block. Every status change
is one of challenge's submission services, guarded by the claim.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction

from challenge.code_phases import STAGE_SCORING
from challenge.models import Phase, Submission
from challenge.notifications import submission_notify_final
from challenge.publication import published_truth_from_file
from challenge.services.code import submission_program_run_record
from challenge.services.files import local_path
from challenge.services.submissions import (
    claim_row,
    submission_claim,
    submission_fail,
    submission_heartbeat,
    submission_lease_left,
    submission_progress,
    submission_release,
)
from core.exceptions import TransientEvaluationError
from leaderboard.models import Result
from leaderboard.services.code_run import ProgramFailed, SandboxDown, program_output, visible_message
from leaderboard.services.intervals import result_intervals_compute
from leaderboard.services.results import result_store

logger = logging.getLogger(__name__)

NO_GROUND_TRUTH = (
    "The phase has no ground truth yet, so the submission cannot be scored; the organisers have been told."
)
BAD_GROUND_TRUTH = "The phase's ground truth could not be read, so the submission cannot be scored; the organisers have been told."
TIME_LIMIT = "The evaluation took longer than the limit of {seconds} seconds and was stopped."
STORAGE_GAVE_UP = "The stored files could not be read after several attempts; please contact the organisers."
SANDBOX_GAVE_UP = (
    "The server could not start a sandbox for your program after several attempts; this is the site's "
    "fault, so the submission does not count against your team's quota. The organisers have been told."
)
MEMORY_LIMIT = (
    "The evaluation stopped the worker: scoring this file needed more than the worker's memory limit of "
    "{mib:,} MiB per task. Check the file's shapes against the starter kit. This submission does not "
    "count against your team's quota."
)
INTERNAL_ERROR = (
    "An internal error stopped the evaluation; the organisers have been told. Please try again later."
)
FILE_CHANGED = (
    "The submission was not scored because the stored file changed after it was accepted: its sha256 "
    "is no longer the one recorded at upload. The organisers have been told; this submission does not "
    "count against your team's quota."
)

#: The progress stage shown while the confidence intervals are computed.
STAGE_INTERVALS = "computing confidence intervals"
#: Least time between two progress writes of one submission.
PROGRESS_INTERVAL_S = 0.5


class LeaseLost(Exception):  # noqa: N818 - a signal, not an error
    """The row was taken over (its lease expired and the sweeper re-queued it): stop, store nothing."""


class _Heartbeat:
    """Bumps `heartbeat_at` every PENTATHLON_HEARTBEAT_INTERVAL seconds from a daemon thread, so a
    long stage without progress calls still holds the lease; notices when the lease was lost."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{row['id']}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def beat(self) -> None:
        if not submission_heartbeat(row=self.row):
            self.lost.set()

    def _run(self) -> None:
        interval = float(settings.PENTATHLON_HEARTBEAT_INTERVAL)
        try:
            while not self._stop.wait(interval):
                try:
                    self.beat()
                except Exception:  # a database blip: the next beat tries again
                    logger.warning("submission %s: heartbeat failed", self.row["id"], exc_info=True)
        finally:
            connection.close()


def submission_evaluate(*, submission_id: int, final_attempt: bool = True) -> float | None:
    """Score one submission. Idempotent: only a claimable row is processed, so running it twice is safe.

    User errors (`evaluation.errors.SubmissionError`) end the submission as FAILED with the
    evaluation core's message and are never retried. Transient errors (storage, database) put the
    row back to QUEUED and re-raise for the task to retry; on the `final_attempt` they fail it instead.
    A MemoryError (the worker's per-task limit, `workers.limits`) fails it with MEMORY_LIMIT, refunded.

    Returns None, or, when the row is RUNNING under another claim's live lease, the seconds after
    which that lease may have expired: the caller sends the message again for then, because the
    claim may belong to a worker that died with this very message (a SIGKILLed pool process whose
    message was redelivered), and dropping it would leave the row running until a sweep.
    """
    claimed_at = submission_claim(submission_id=submission_id)
    if claimed_at is None:
        lease_left = submission_lease_left(submission_id=submission_id)
        if lease_left is not None:
            logger.info("submission %s: held by a live lease; back in %.0f s", submission_id, lease_left)
            return lease_left + 1.0
        logger.info("submission %s: not claimable, skipping", submission_id)
        return None
    mine = claim_row(submission_id=submission_id, claimed_at=claimed_at)
    submission = Submission.objects.select_related("phase").get(id=submission_id)
    if not submission.phase.ground_truth:
        if submission_fail(row=mine, message=NO_GROUND_TRUTH):
            submission_notify_final(submission_id=submission_id)
        return None
    _evaluate_claimed(row=mine, submission=submission, final_attempt=final_attempt)
    return None


def _evaluate_claimed(*, row: dict[str, Any], submission: Submission, final_attempt: bool) -> None:
    """Score a claimed submission and store its result, or end it with the sentence its error calls
    for (the evaluation core's message, a limit, or the site's own fault)."""
    from evaluation.errors import GroundTruthError, SubmissionError
    from evaluation.sandbox import StoredFileChangedError

    phase, submission_id = submission.phase, submission.id
    try:
        report, ranks_blob, intervals = _score_claimed(row=row, submission=submission)
    except LeaseLost:
        logger.warning(
            "submission %s: lease lost (re-queued after a missed heartbeat); stopping", submission_id
        )
        return None
    except StoredFileChangedError:
        logger.error(
            "submission %s: the stored file's sha256 is not the one recorded at upload; not scored",
            submission_id,
        )
        _fail(row=row, message=FILE_CHANGED, refund=True)
        return None
    except ProgramFailed as exc:  # a code phase's program failed: counted as the phase says
        _fail(row=row, message=exc.message, refund=not phase.code_failures_count)
        return None
    except SubmissionError as exc:
        if phase.is_code:  # the program's output: its validation message may carry what it printed
            _program_bad_output(row=row, phase=phase, detail=str(exc))
            return None
        _fail(row=row, message=str(exc))
        return None
    except GroundTruthError:
        logger.exception("submission %s: the ground truth of phase %s is invalid", submission_id, phase.id)
        _fail(row=row, message=BAD_GROUND_TRUTH)
        return None
    except SoftTimeLimitExceeded:
        _fail(row=row, message=TIME_LIMIT.format(seconds=phase.time_limits[0]))
        return None
    except TransientEvaluationError as exc:
        if final_attempt:  # the site's fault: never counted
            message = SANDBOX_GAVE_UP if isinstance(exc, SandboxDown) else STORAGE_GAVE_UP
            _fail(row=row, message=message, refund=phase.is_code)
            return None
        submission_release(row=row)
        raise
    except MemoryError:
        logger.warning("submission %s: over the worker's memory limit", submission_id)
        _fail(
            row=row, message=MEMORY_LIMIT.format(mib=settings.PENTATHLON_WORKER_MEMORY_LIMIT_MB), refund=True
        )
        return None
    except Exception:
        logger.exception("submission %s: unexpected error during evaluation", submission_id)
        _fail(row=row, message=INTERNAL_ERROR)
        return None
    result_store(row=row, report=report, ranks_blob=ranks_blob, intervals=intervals)
    return None


def _score_claimed(
    *, row: dict[str, Any], submission: Submission
) -> tuple[dict[str, Any], bytes | None, dict[str, Any] | None]:
    """The report, the per-query blob and the intervals of a claimed submission, scored in the
    isolated child under a heartbeat that keeps the claim's lease."""
    phase = submission.phase
    heartbeat = _Heartbeat(row)
    reporter = _ProgressReporter(
        row=row, datasets=list(phase.splits.values_list("dataset__name", flat=True)), lost=heartbeat.lost
    )
    with (
        heartbeat,
        local_path(phase.ground_truth) as truth_path,
        local_path(submission.file) as submission_path,
    ):
        reporter("reading ground truth", None, 0.0)
        truth = published_truth_from_file(phase=phase, path=truth_path)
        ranks: dict[str, Any] = {}
        with _scored_file(row=row, phase=phase, truth=truth, path=submission_path, reporter=reporter) as path:
            report = _score_isolated(
                submission=submission,
                truth=truth,
                submission_path=path,
                # a program's output was written on this worker just now: no upload digest to check
                sha256=None if phase.is_code else (submission.checksum_sha256 or None),
                reporter=reporter,
                heartbeat=heartbeat,
                ranks=ranks,
            )
        ranks_blob, intervals = _uncertainty(phase=phase, ranks=ranks, reporter=reporter)
    return report, ranks_blob, intervals


def _score_isolated(
    *,
    submission: Submission,
    truth: Any,
    submission_path: str,
    sha256: str | None,
    reporter: _ProgressReporter,
    heartbeat: _Heartbeat,
    ranks: dict[str, Any],
) -> dict[str, Any]:
    """Score in a child process that holds no secret and checks the file's sha256 (evaluation.sandbox,
    docs/deploying.md "The scoring child"); the same report as `score_submission`."""
    from evaluation.io import ReadLimits
    from evaluation.sandbox import isolation_for, score_in_child
    from evaluation.scoring import resolve_device

    isolation = isolation_for(
        settings.PENTATHLON_SCORING_ISOLATION,
        uid=settings.PENTATHLON_SCORING_UID,
        gid=settings.PENTATHLON_SCORING_GID,
    )
    logger.info("submission %s: scoring child isolation: %s", submission.id, isolation.describe())

    def should_stop() -> None:
        if heartbeat.lost.is_set():
            raise LeaseLost

    probe = settings.PENTATHLON_SCORING_TEST_PROBE  # tests only (docs/deploying.md)
    mib = int(settings.PENTATHLON_WORKER_MEMORY_LIMIT_MB)
    return score_in_child(
        ground_truth=truth,
        submission_path=submission_path,
        sha256=sha256,
        isolation=isolation,
        aggregation=submission.phase.aggregation,
        # resolved here (the worker imported torch at warm-up): a CPU child never imports it
        device=resolve_device(settings.EVALUATION_DEVICE),
        limits=ReadLimits(max_total_bytes=max(settings.SUBMISSION_MAX_BYTES * 64, 8 * 1024**3)),
        progress=reporter,
        ranks_out=ranks,
        memory_limit=mib * 1024**2 if mib > 0 else None,
        should_stop=should_stop,
        probe=None if probe is None else {k: v for k, v in probe.items() if k != "report_to"},
        on_probe=None if probe is None else _probe_writer(probe.get("report_to")),
        file_name=submission.original_filename,  # never the stored file's generated name
        metrics=_requested_metrics(submission.phase),
        datasets=list(submission.phase.challenge.datasets.values_list("name", flat=True)),
    )


def _probe_writer(path: str | None) -> Callable[[dict[str, Any]], None]:
    def write(seen: dict[str, Any]) -> None:
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(seen, handle)

    return write


@contextmanager
def _scored_file(
    *, row: dict[str, Any], phase: Phase, truth: Any, path: str, reporter: _ProgressReporter
) -> Iterator[str]:
    """The file to score: the upload itself, or in a code phase what the uploaded program wrote."""
    if not phase.is_code:
        yield path
        return
    with program_output(row=row, phase=phase, truth=truth, program_path=path, progress=reporter) as output:
        reporter(STAGE_SCORING, None, 0.0)
        yield output


def _program_bad_output(*, row: dict[str, Any], phase: Phase, detail: str) -> None:
    """A code phase's program wrote a file the scorer refused: the reason where output is shown."""
    run = dict(Submission.objects.filter(id=row["id"]).values_list("program_run", flat=True).first() or {})
    run.update(ok=False, failure_class="bad_output", message=detail)
    submission_program_run_record(row=row, run=run)
    message = visible_message(
        phase=phase, failure_class="bad_output", detail=f"Your program's output: {detail}"
    )
    _fail(row=row, message=message, refund=not phase.code_failures_count)


def _requested_metrics(phase: Phase) -> list[str] | None:
    """The challenge's metric set beyond the rank metrics, which the scorer always computes (mAP@10,
    nDCG@5, ...); None when the set has none, so the scorer reports its defaults (nothing more on one
    relevant item per query, its relevance metrics on sets) and one-positive reports stay as they were."""
    from evaluation.metrics.registry import METRIC_KEYS

    extra = [key for key in phase.challenge.metric_set if key not in METRIC_KEYS]
    return extra or None


def _uncertainty(
    *, phase: Phase, ranks: dict[str, Any], reporter: _ProgressReporter
) -> tuple[bytes | None, dict[str, Any] | None]:
    """Pack the per-query ranks (kept privately) and compute the intervals, under the lease.

    A failure here loses the intervals, never the result: it is logged and the result is stored
    without them.
    """
    from evaluation.uncertainty import pack_ranks

    if not ranks:
        return None, None
    reporter(STAGE_INTERVALS, None, 0.0)
    try:
        blob = pack_ranks(ranks)
    except ValueError:
        logger.exception("phase %s: per-query ranks could not be packed", phase.id)
        return None, None
    return blob, result_intervals_compute(phase=phase, ranks=ranks)


def _fail(*, row: dict[str, Any], message: str, refund: bool = False) -> None:
    """Fail the claimed row and drop a result it may hold from an earlier scoring; tell the team once."""
    with transaction.atomic():
        failed = submission_fail(row=row, message=message, refund=refund)
        had_result = failed and Result.objects.filter(submission_id=row["id"]).delete()[0] > 0
    if failed and not had_result:  # a re-score that fails is the organisers' business, not a new email
        submission_notify_final(submission_id=row["id"])


class _ProgressReporter:
    """The scorer's progress callback: writes stage, overall fraction and per-dataset fractions, throttled."""

    def __init__(
        self, *, row: dict[str, Any], datasets: list[str], lost: threading.Event | None = None
    ) -> None:
        self.row, self.datasets, self.lost = row, datasets, lost
        self.per_dataset: dict[str, float] = {}
        self.stage = ""
        self.last_write = 0.0

    def __call__(self, stage: str, dataset: str | None, fraction: float) -> None:
        if self.lost is not None and self.lost.is_set():
            raise LeaseLost
        fraction = min(max(float(fraction), 0.0), 1.0)
        if dataset is not None:
            self.per_dataset[dataset] = fraction
            overall = sum(self.per_dataset.values()) / max(len(self.datasets), len(self.per_dataset), 1)
        else:
            overall = (
                fraction
                if not self.per_dataset
                else sum(self.per_dataset.values()) / max(len(self.datasets), 1)
            )
        now = time.monotonic()
        if stage == self.stage and now - self.last_write < PROGRESS_INTERVAL_S and fraction < 1.0:
            return
        self.stage, self.last_write = stage, now
        label = f"{stage} {dataset}" if dataset else stage
        written = submission_progress(
            row=self.row,
            progress={"stage": label, "fraction": round(overall, 4), "datasets": dict(self.per_dataset)},
        )
        if not written:
            raise LeaseLost
