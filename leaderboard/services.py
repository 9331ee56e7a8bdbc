"""Scoring a submission and storing its result.

`submission_evaluate` is the one deliberate exception to "everything in one transaction": the
claim (QUEUED -> RUNNING) commits first, the long evaluation runs outside any transaction, and the
result plus the status change are written together in one short atomic block.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from challenge.exceptions import TransientEvaluationError
from challenge.models import Challenge, Submission
from challenge.publication import published_truth_from_file
from challenge.services import submission_mark_failed
from leaderboard.models import DatasetResult, LeaderboardSnapshot, Result

#: Leaderboard column name -> DatasetResult field (all t2v; "score" is the challenge's primary metric).
METRIC_FIELDS = {
    "score": "score",
    "R1": "r1",
    "R5": "r5",
    "R10": "r10",
    "R50": "r50",
    "MedR": "medr",
    "MeanR": "meanr",
}
GEOMETRIC_MEAN_KEY = "geometric_mean_R1-R5-R10"

logger = logging.getLogger(__name__)
Status = Submission.Status

NO_GROUND_TRUTH = (
    "The phase has no ground truth yet, so the submission cannot be scored; the organisers have been told."
)
BAD_GROUND_TRUTH = "The phase's ground truth could not be read, so the submission cannot be scored; the organisers have been told."
TIME_LIMIT = "The evaluation took longer than the limit of {seconds} seconds and was stopped."
STORAGE_GAVE_UP = "The stored files could not be read after several attempts; please contact the organisers."
INTERNAL_ERROR = (
    "An internal error stopped the evaluation; the organisers have been told. Please try again later."
)

#: Least time between two progress writes of one submission.
PROGRESS_INTERVAL_S = 0.5


def evaluation_hard_limit() -> timedelta:
    return timedelta(seconds=max(settings.CELERY_TASK_TIME_LIMIT, settings.PENTATHLON_EVALUATION_MAX_LIMIT))


def lease_expired_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.PENTATHLON_HEARTBEAT_STALE_AFTER)


def submission_claim(*, submission_id: int) -> Any:
    """QUEUED -> RUNNING, or take over a RUNNING row whose lease expired (a dead worker: no heartbeat
    for PENTATHLON_HEARTBEAT_STALE_AFTER seconds). One conditional UPDATE, so one claimer wins.

    Returns the claim's start time (the claim token), or None when another worker holds the row or it is final.
    """
    now = timezone.now()
    expired = lease_expired_before()
    claimed = (
        Submission.objects.filter(id=submission_id)
        .filter(
            Q(status=Status.QUEUED)
            | Q(status=Status.RUNNING, heartbeat_at__lt=expired)
            | Q(
                status=Status.RUNNING, heartbeat_at__isnull=True, started_at__lt=now - evaluation_hard_limit()
            )
        )
        .update(
            status=Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            updated_at=now,
            attempts=F("attempts") + 1,
            error_message="",
            progress={"stage": "starting", "fraction": 0.0, "datasets": {}},
        )
    )
    return now if claimed else None


class LeaseLost(Exception):  # noqa: N818 - a signal, not an error
    """The row was taken over (its lease expired and the sweeper re-queued it): stop, store nothing."""


class _Heartbeat:
    """Bumps `heartbeat_at` every PENTATHLON_HEARTBEAT_INTERVAL seconds from a daemon thread, so a
    long stage without progress calls still holds the lease; notices when the lease was lost."""

    def __init__(self, row: dict) -> None:
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
        now = timezone.now()
        if not Submission.objects.filter(**self.row).update(heartbeat_at=now):
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


def submission_evaluate(*, submission_id: int, final_attempt: bool = True) -> None:
    """Score one submission. Idempotent: only a claimable row is processed, so running it twice is safe.

    User errors (`evaluation.errors.SubmissionError`) end the submission as FAILED with the
    evaluation core's message and are never retried. Transient errors (storage, database) put the
    row back to QUEUED and re-raise for the task to retry; on the `final_attempt` they fail it instead.
    """
    from evaluation.errors import GroundTruthError, SubmissionError
    from evaluation.io import ReadLimits
    from evaluation.scoring import score_submission

    claimed_at = submission_claim(submission_id=submission_id)
    if claimed_at is None:
        logger.info("submission %s: not claimable, skipping", submission_id)
        return
    mine = {"id": submission_id, "status": Status.RUNNING, "started_at": claimed_at}
    submission = Submission.objects.select_related("phase").get(id=submission_id)
    phase = submission.phase
    if not phase.ground_truth:
        if submission_mark_failed(
            submission_id=submission_id, message=NO_GROUND_TRUTH, from_states=(Status.RUNNING,)
        ):
            _notify(submission_id=submission_id)
        return
    heartbeat = _Heartbeat(mine)
    reporter = _ProgressReporter(
        row=mine, datasets=list(phase.splits.values_list("dataset__name", flat=True)), lost=heartbeat.lost
    )
    try:
        with (
            heartbeat,
            _local_path(phase.ground_truth) as truth_path,
            _local_path(submission.file) as submission_path,
        ):
            reporter("reading ground truth", None, 0.0)
            truth = published_truth_from_file(phase=phase, path=truth_path)
            report = score_submission(
                ground_truth=truth,
                submission_path=submission_path,
                aggregation=phase.aggregation,
                device=settings.EVALUATION_DEVICE,
                limits=ReadLimits(max_total_bytes=max(settings.SUBMISSION_MAX_BYTES * 64, 8 * 1024**3)),
                progress=reporter,
            )
    except LeaseLost:
        logger.warning(
            "submission %s: lease lost (re-queued after a missed heartbeat); stopping", submission_id
        )
        return
    except SubmissionError as exc:
        _fail(row=mine, message=str(exc))
        return
    except GroundTruthError:
        logger.exception("submission %s: the ground truth of phase %s is invalid", submission_id, phase.id)
        _fail(row=mine, message=BAD_GROUND_TRUTH)
        return
    except SoftTimeLimitExceeded:
        _fail(row=mine, message=TIME_LIMIT.format(seconds=phase.time_limits[0]))
        return
    except TransientEvaluationError:
        if final_attempt:
            _fail(row=mine, message=STORAGE_GAVE_UP)
            return
        Submission.objects.filter(**mine).update(status=Status.QUEUED, updated_at=timezone.now())
        raise
    except Exception:
        logger.exception("submission %s: unexpected error during evaluation", submission_id)
        _fail(row=mine, message=INTERNAL_ERROR)
        return
    result_store(row=mine, report=report)


def _fail(*, row: dict, message: str) -> None:
    with transaction.atomic():
        failed = Submission.objects.filter(**row).update(
            status=Status.FAILED, error_message=message, finished_at=timezone.now(), updated_at=timezone.now()
        )
        had_result = failed and Result.objects.filter(submission_id=row["id"]).delete()[0] > 0
    if failed and not had_result:  # a re-score that fails is the organisers' business, not a new email
        _notify(submission_id=row["id"])


def result_store(*, row: dict, report: dict) -> Result | None:
    """Write the result and finish the submission in one short transaction, if the claim still holds."""
    with transaction.atomic():
        progress = {
            "stage": "done",
            "fraction": 1.0,
            "datasets": {name: 1.0 for name in report.get("datasets", {})},
        }
        finished = Submission.objects.filter(**row).update(
            status=Status.FINISHED,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            progress=progress,
            scored_count=F("scored_count") + 1,
        )
        if not finished:
            logger.warning("submission %s: claim lost before the result was stored", row["id"])
            return None
        challenge = Challenge.objects.filter(phases__submissions__id=row["id"]).first()
        datasets = report.get("datasets", {})
        scores = dataset_scores(report=report, metric=challenge.primary_metric if challenge else None)
        overall = overall_score(
            scores={k: v for k, v in scores.items() if v is not None},
            phase_datasets=list(datasets) + list(report.get("missing_datasets", [])),
            aggregation=report.get("aggregation") or "mean",
        )
        result, first_result = Result.objects.update_or_create(
            submission_id=row["id"],
            defaults={
                "primary_score": None if overall is None else float(overall),
                "aggregation": report.get("aggregation", ""),
                "metrics": datasets,
                "missing_datasets": list(report.get("missing_datasets", [])),
                "scorer_version": report.get("scorer_version", ""),
            },
        )
        dataset_results_store(result=result, report=report, scores=scores)
    if first_result:  # a re-score of the whole phase does not email every team again
        _notify(submission_id=row["id"])
    return result


def dataset_scores(*, report: dict, metric: str | None) -> dict[str, float | None]:
    """Per-dataset score under the challenge's primary metric (t2v); the scorer's own score by default."""
    out: dict[str, float | None] = {}
    for name, entry in report.get("datasets", {}).items():
        if metric is None or metric == GEOMETRIC_MEAN_KEY:
            value = entry.get("score")
        else:
            value = (entry.get("t2v") or {}).get(metric)
        out[name] = None if value is None else float(value)
    return out


def overall_score(*, scores: dict[str, float], phase_datasets: list[str], aggregation: str) -> float | None:
    from evaluation.scoring import overall_score as aggregate

    return aggregate(scores, phase_datasets, aggregation if aggregation in ("mean", "sum") else "mean")


def dataset_results_store(*, result: Result, report: dict, scores: dict[str, float | None]) -> None:
    """Replace the result's per-dataset rows (one per scored dataset) from the scorer's report."""
    DatasetResult.objects.filter(result=result).delete()
    rows = []
    for name, entry in report.get("datasets", {}).items():
        t2v = entry.get("t2v") or {}
        rows.append(
            DatasetResult(
                result=result,
                dataset=name,
                score=scores.get(name),
                rank_histogram=entry.get("rank_histogram"),
                **{
                    field: None if t2v.get(key) is None else float(t2v[key])
                    for key, field in METRIC_FIELDS.items()
                    if key != "score"
                },
            )
        )
    DatasetResult.objects.bulk_create(rows)


def _notify(*, submission_id: int) -> None:
    """Email the team, after the status change has been written (never raises)."""
    from challenge.notifications import submission_notify_final

    submission_notify_final(submission_id=submission_id)


class _ProgressReporter:
    """The scorer's progress callback: writes stage, overall fraction and per-dataset fractions, throttled."""

    def __init__(self, *, row: dict, datasets: list[str], lost: threading.Event | None = None) -> None:
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
        written = Submission.objects.filter(**self.row).update(
            heartbeat_at=timezone.now(),
            progress={"stage": label, "fraction": round(overall, 4), "datasets": dict(self.per_dataset)},
        )
        if not written:
            raise LeaseLost


@contextmanager
def _local_path(field: FieldFile) -> Iterator[str]:
    """A local path for a stored file: the file itself on local storage, a temporary copy otherwise.

    Raises:
        TransientEvaluationError: the storage cannot be read right now.
    """
    try:
        path = field.storage.path(field.name)
    except NotImplementedError:
        path = None
    if path is not None:
        if not os.path.isfile(path):
            raise TransientEvaluationError(f"stored file {field.name} is not available")
        yield path
        return
    suffix = os.path.splitext(field.name)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix, prefix="pentathlon-eval-") as tmp:
        try:
            with field.storage.open(field.name, "rb") as source:
                shutil.copyfileobj(source, tmp, 1 << 20)
        except OSError as exc:
            raise TransientEvaluationError(f"stored file {field.name} cannot be read ({exc})") from exc
        tmp.flush()
        yield tmp.name


# --- organisers: re-scoring with a before/after diff ------------------------------------------------


def leaderboard_snapshot_take(*, phase: Any, reason: str, user: Any = None) -> LeaderboardSnapshot:
    """Freeze the phase's overall board (every row, organisers' view) before a change."""
    from leaderboard.selectors import leaderboard_rows

    rows = [
        {
            "submission_id": r["submission_id"],
            "team": r["team"],
            "method_name": r["method_name"],
            "rank": r["rank"],
            "is_baseline": r["is_baseline"],
            "primary_score": r["primary_score"],
        }
        for r in leaderboard_rows(phase=phase)
    ]
    return LeaderboardSnapshot.objects.create(
        phase=phase,
        reason=reason[:200],
        rows=rows,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


@transaction.atomic
def phase_rescore_with_snapshot(*, phase: Any, reason: str = "re-score", user: Any = None) -> int:
    """Snapshot the board, then queue every finished or failed submission of the phase for scoring again.

    Returns the number of submissions queued; `leaderboard_diff` compares the snapshot with the board.
    """
    from challenge.services import phase_rescore

    leaderboard_snapshot_take(phase=phase, reason=reason, user=user)
    return phase_rescore(phase=phase)


def leaderboard_diff(*, phase: Any, snapshot: LeaderboardSnapshot | None = None) -> dict | None:
    """The latest snapshot against the current board: one line per team or baseline entry.

    Returns None when the phase has no snapshot, else {"snapshot", "pending" (submissions still being
    scored), "rows": [{team, method_name, before_rank, after_rank, before_score, after_score, delta,
    rank_change, status ("same", "changed", "new", "gone")}]}.
    """
    from leaderboard.selectors import leaderboard_rows

    snapshot = (
        snapshot or LeaderboardSnapshot.objects.filter(phase=phase).order_by("-created_at", "-id").first()
    )
    if snapshot is None:
        return None

    def key(row: dict) -> tuple:
        return (row["team"], row["submission_id"] if row["is_baseline"] else 0)

    before = {key(r): r for r in snapshot.rows}
    after = {key(r): r for r in leaderboard_rows(phase=phase)}
    lines = []
    for k in list(after) + [k for k in before if k not in after]:
        old, new = before.get(k), after.get(k)
        line = {
            "team": (new or old)["team"],
            "method_name": (new or old)["method_name"],
            "is_baseline": (new or old)["is_baseline"],
            "before_rank": old and old["rank"],
            "after_rank": new and new["rank"],
            "before_score": old and old["primary_score"],
            "after_score": new and new["primary_score"],
        }
        if old is None:
            line["status"], line["delta"], line["rank_change"] = "new", None, None
        elif new is None:
            line["status"], line["delta"], line["rank_change"] = "gone", None, None
        else:
            line["delta"] = (
                None
                if new["primary_score"] is None or old["primary_score"] is None
                else new["primary_score"] - old["primary_score"]
            )
            line["rank_change"] = (
                None if new["rank"] is None or old["rank"] is None else old["rank"] - new["rank"]
            )
            same = (
                abs(line["delta"] or 0.0) < 1e-12
                and old["rank"] == new["rank"]
                and old["submission_id"] == new["submission_id"]
            )
            line["status"] = "same" if same else "changed"
        lines.append(line)
    pending = Submission.objects.filter(phase=phase, status__in=[Status.QUEUED, Status.RUNNING]).count()
    return {"snapshot": snapshot, "pending": pending, "rows": lines}
