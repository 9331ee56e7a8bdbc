"""Every write of the challenge app. Keyword-only, validated with full_clean, atomic.

Evaluation is enqueued only through `transaction.on_commit`, so a worker never sees a row that
might still roll back.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from challenge.exceptions import ApplicationError, PermissionDeniedError, QuotaExceededError
from challenge.models import Challenge, Dataset, Phase, Split, Submission, Team, TeamMembership
from challenge.publication import ground_truth_audit, phase_public_shapes
from challenge.selectors import challenge_is_organiser

logger = logging.getLogger(__name__)
Status = Submission.Status

NOT_A_MEMBER = "You are not a member of a team in this challenge; create or join a team first."
ALREADY_IN_TEAM = (
    "You are already in team {team!r} for this challenge; a participant can be in one team per challenge."
)
TEAM_NAME_TAKEN = "A team named {name!r} already exists in this challenge; choose another name."
INVITE_CODE_UNKNOWN = "No team has this invite code; check the code the team owner gave you."
PHASE_NOT_STARTED = (
    "The phase {phase!r} opens on {when:%Y-%m-%d %H:%M} UTC; submissions are not accepted yet."
)
PHASE_ENDED = "The phase {phase!r} closed on {when:%Y-%m-%d %H:%M} UTC; submissions are no longer accepted."
PHASE_NO_GROUND_TRUTH = (
    "The phase {phase!r} does not accept submissions yet: its ground truth has not been uploaded."
)
QUOTA_TOTAL = (
    "Your team has used all {limit} submissions of the phase {phase!r} (failed submissions do not count)."
)
QUOTA_DAY = (
    "Your team has used its {limit} submissions for today in the phase {phase!r}; the count resets at "
    "00:00 UTC (failed submissions do not count)."
)
FILE_TOO_LARGE = "The file is {size:,} bytes; the largest submission accepted is {limit:,} bytes."
GROUND_TRUTH_TOO_LARGE = "The ground-truth file is {size:,} bytes; the largest accepted is {limit:,} bytes."
FILE_EMPTY = "The file is empty."
FORMAT_UNKNOWN = "The file name {name!r} does not end in .zip, .npz or .h5; the phase accepts {allowed}."
FORMAT_NOT_ALLOWED = "The phase {phase!r} does not accept .{fmt} files; it accepts {allowed}."
MAGIC_MISMATCH = (
    "The file {name!r} is not a valid {fmt} file: its first bytes do not match the format its name says."
)
FILE_UNREADABLE = (
    "The file {name!r} could not be read as a .{fmt} submission; check that it is complete and valid."
)
NO_PHASE_DATASET = (
    "The file holds no dataset of the phase {phase!r} (found: {found}); expected some of {expected}."
)
NOT_YOUR_SUBMISSION = "Only members of the submitting team can change this submission."
CANCEL_TOO_LATE = "Only a submission that has not started running can be cancelled."
FINAL_NEEDS_FINISHED = "Only a finished submission can be chosen as the team's final submission."
TEAM_NOT_APPROVED = (
    "Your team {team!r} is waiting for the organisers' approval; you can submit once it is approved."
)
PUBLIC_CHOICE_LOCKED = (
    "The organisers have locked which submissions of the phase {phase!r} are public; "
    "it can no longer be changed."
)
CHECKSUM_MISMATCH = (
    "The file received has sha256 {actual}, not {expected}: it was corrupted or changed during "
    "the upload; upload it again."
)

_MAGIC = {
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "npz": (b"PK\x03\x04", b"PK\x05\x06"),
    "h5": (b"\x89HDF\r\n\x1a\n",),
}
_EXTENSIONS = {".zip": "zip", ".npz": "npz", ".h5": "h5", ".hdf5": "h5"}


# --- accounts and teams ---------------------------------------------------------------------------


def user_create(
    *, username: str, password: str, email: str = "", is_staff: bool = False, is_superuser: bool | None = None
) -> AbstractBaseUser:
    """Create an account. `is_superuser` defaults to `is_staff` (a site administrator); pass False for a
    staff account that reaches the admin but only the challenges it organises."""
    user_model = get_user_model()
    user = user_model(
        username=username,
        email=email,
        is_staff=is_staff,
        is_superuser=is_staff if is_superuser is None else is_superuser,
    )
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def team_create(
    *, challenge: Challenge, user: AbstractBaseUser, name: str, is_baseline: bool = False
) -> Team:
    """Create a team with `user` as its owner."""
    _ensure_not_in_team(challenge=challenge, user=user)
    name = name.strip()
    if Team.objects.filter(challenge=challenge, name__iexact=name).exists():
        raise ApplicationError(TEAM_NAME_TAKEN.format(name=name))
    team = Team(
        challenge=challenge,
        name=name,
        is_baseline=is_baseline,
        is_approved=is_baseline or not challenge.teams_need_approval,
    )
    team.full_clean()
    team.save()
    membership = TeamMembership(team=team, user=user, challenge=challenge, role=TeamMembership.Role.OWNER)
    membership.full_clean()
    membership.save()
    return team


@transaction.atomic
def team_join(*, challenge: Challenge, user: AbstractBaseUser, invite_code: str) -> Team:
    team = Team.objects.filter(challenge=challenge, invite_code=invite_code.strip()).first()
    if team is None:
        raise ApplicationError(INVITE_CODE_UNKNOWN)
    _ensure_not_in_team(challenge=challenge, user=user)
    membership = TeamMembership(team=team, user=user, challenge=challenge, role=TeamMembership.Role.MEMBER)
    membership.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError as exc:  # a concurrent join or create won the race
        raise ApplicationError(ALREADY_IN_TEAM.format(team=team.name)) from exc
    return team


def _ensure_not_in_team(*, challenge: Challenge, user: AbstractBaseUser) -> None:
    existing = TeamMembership.objects.filter(challenge=challenge, user=user).select_related("team").first()
    if existing is not None:
        raise ApplicationError(ALREADY_IN_TEAM.format(team=existing.team.name))


# --- challenges, phases, ground truth ---------------------------------------------------------------


@transaction.atomic
def challenge_upsert(
    *,
    slug: str,
    title: str,
    summary: str = "",
    description: str = "",
    rules: str = "",
    datasets: Iterable[str] = (),
    organisers: Iterable[AbstractBaseUser] = (),
) -> Challenge:
    """Create or update a challenge and its datasets (idempotent, keyed by slug and dataset name).

    `organisers` are added to the challenge's organisers; existing organisers are kept (remove them
    with `challenge_organisers_set` or in the admin).
    """
    challenge = Challenge.objects.filter(slug=slug).first() or Challenge(slug=slug)
    challenge.title, challenge.summary, challenge.description, challenge.rules = (
        title,
        summary,
        description,
        rules,
    )
    challenge.full_clean()
    challenge.save()
    challenge_organisers_add(challenge=challenge, users=organisers)
    for order, name in enumerate(datasets):
        dataset = Dataset.objects.filter(challenge=challenge, name=name).first() or Dataset(
            challenge=challenge, name=name
        )
        dataset.order = order
        dataset.full_clean()
        dataset.save()
    return challenge


@transaction.atomic
def challenge_organisers_add(*, challenge: Challenge, users: Iterable[AbstractBaseUser]) -> Challenge:
    """Make the users organisers of the challenge (idempotent). Staff status is not changed: it only
    decides whether they may use the admin."""
    users = list(users)
    if users:
        challenge.organisers.add(*users)
    return challenge


@transaction.atomic
def challenge_organisers_set(*, challenge: Challenge, users: Iterable[AbstractBaseUser]) -> Challenge:
    """Replace the challenge's organisers with exactly these users."""
    challenge.organisers.set(list(users))
    return challenge


@transaction.atomic
def phase_upsert(
    *,
    challenge: Challenge,
    slug: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
    order: int = 0,
    description: str = "",
    max_submissions_per_day: int | None = None,
    max_submissions_total: int | None = None,
    allowed_formats: list[str] | None = None,
    aggregation: str = Phase.Aggregation.MEAN,
    leaderboard_visibility: str = Phase.LeaderboardVisibility.PUBLIC,
    query_order: str = Phase.QueryOrder.BLIND,
) -> Phase:
    """Create or update a phase (idempotent, keyed by challenge and slug)."""
    phase = Phase.objects.filter(challenge=challenge, slug=slug).first() or Phase(
        challenge=challenge, slug=slug
    )
    phase.title, phase.starts_at, phase.ends_at, phase.order = title, starts_at, ends_at, order
    phase.description = description
    phase.max_submissions_per_day, phase.max_submissions_total = (
        max_submissions_per_day,
        max_submissions_total,
    )
    phase.allowed_formats = list(allowed_formats or [])
    phase.aggregation, phase.leaderboard_visibility = aggregation, leaderboard_visibility
    phase.query_order = query_order
    phase.full_clean()
    phase.save()
    return phase


def ground_truth_check(*, challenge: Challenge, file: IO[bytes] | File) -> Any:
    """Validate an uploaded ground-truth file without storing it (the admin form's check)."""
    with _spooled_copy(
        file, suffix=".h5", limit=settings.GROUND_TRUTH_MAX_BYTES, too_large=GROUND_TRUTH_TOO_LARGE
    ) as (tmp_path, _size, _digest):
        return ground_truth_validate(challenge=challenge, path=tmp_path)


def ground_truth_validate(*, challenge: Challenge, path: str | os.PathLike[str]) -> Any:
    """Read a ground-truth file with the evaluation core and check it against the challenge's datasets.

    Returns the `evaluation.ground_truth.GroundTruth`.
    Raises:
        ValidationError: the evaluation core's message, or a dataset unknown to the challenge.
    """
    from evaluation.errors import GroundTruthError
    from evaluation.ground_truth import read_ground_truth

    try:
        truth = read_ground_truth(path)
    except GroundTruthError as exc:
        raise ValidationError(f"Invalid ground-truth file: {exc}") from exc
    known = set(challenge.datasets.values_list("name", flat=True))
    unknown = sorted(set(truth.datasets) - known)
    if unknown:
        raise ValidationError(
            f"Invalid ground-truth file: the dataset(s) {', '.join(unknown)} are not datasets of the challenge "
            f"{challenge.title!r} (it has {', '.join(sorted(known)) or 'none'}); add them first."
        )
    return truth


def ground_truth_publishable(*, phase: Phase, truth: Any) -> dict[str, dict]:
    """Check that the phase can publish `truth` (its blind view can be drawn) and return the leak audit.

    Raises:
        ValidationError: the blind view cannot be drawn (two query ids share an opaque id).
    """
    from evaluation.blinding import QUERY_ORDER_BLIND, publish_ground_truth
    from evaluation.errors import GroundTruthError

    try:
        publish_ground_truth(truth, query_order=QUERY_ORDER_BLIND, secret=phase.blinding_key)
    except GroundTruthError as exc:
        raise ValidationError(f"Invalid ground-truth file: {exc}") from exc
    return ground_truth_audit(truth=truth)


@transaction.atomic
def phase_ground_truth_set(*, phase: Phase, file: IO[bytes] | File) -> Phase:
    """Validate and store a phase's hidden ground truth in the private storage; record its splits and
    the leak audit of its ids and order (`Phase.ground_truth_audit`).

    Splits of datasets that the new file no longer holds are removed.
    """
    with _spooled_copy(
        file, suffix=".h5", limit=settings.GROUND_TRUTH_MAX_BYTES, too_large=GROUND_TRUTH_TOO_LARGE
    ) as (tmp_path, size, digest):
        truth = ground_truth_validate(challenge=phase.challenge, path=tmp_path)
        phase.ground_truth_audit = ground_truth_publishable(phase=phase, truth=truth)
        old_name = phase.ground_truth.name if phase.ground_truth else ""
        _store_spooled(phase.ground_truth, "ground_truth.h5", tmp_path)
    phase.ground_truth_sha256 = digest
    phase.ground_truth_uploaded_at = timezone.now()
    phase.full_clean()
    phase.save()
    datasets = {d.name: d for d in phase.challenge.datasets.all()}
    for name, dataset_truth in truth.datasets.items():
        Split.objects.update_or_create(
            phase=phase,
            dataset=datasets[name],
            defaults={
                "num_queries": dataset_truth.num_queries,
                "num_videos": dataset_truth.num_videos,
                "captions_per_video": dataset_truth.captions_per_video,
            },
        )
    Split.objects.filter(phase=phase).exclude(dataset__name__in=list(truth.datasets)).delete()
    if old_name and old_name != phase.ground_truth.name:
        storage = phase.ground_truth.storage
        transaction.on_commit(lambda: storage.delete(old_name))
    return phase


@transaction.atomic
def phase_publish_results(*, phase: Phase, published: bool) -> Phase:
    phase.leaderboard_visibility = (
        Phase.LeaderboardVisibility.PUBLIC if published else Phase.LeaderboardVisibility.HIDDEN
    )
    phase.save(update_fields=["leaderboard_visibility"])
    return phase


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
    ids = list(Submission.objects.filter(phase=phase, status__in=rescorable).values_list("id", flat=True))
    for submission_id in ids:
        submission_transition(
            submission_id=submission_id,
            from_states=rescorable,
            to_state=Status.QUEUED,
            queued_at=timezone.now(),
            error_message="",
            progress={},
        )
        _enqueue_evaluation(submission_id=submission_id)
    return len(ids)


# --- submissions ------------------------------------------------------------------------------------


def submission_transition(
    *, submission_id: int, from_states: Iterable[str], to_state: str, **fields: Any
) -> bool:
    """Guarded status change: one conditional UPDATE. Returns False when the row was not in `from_states`."""
    updated = Submission.objects.filter(id=submission_id, status__in=list(from_states)).update(
        status=to_state, updated_at=timezone.now(), **fields
    )
    return updated == 1


def submission_mark_failed(
    *, submission_id: int, message: str, from_states: Iterable[str] = (Status.QUEUED, Status.RUNNING)
) -> bool:
    """Record a failure the submitter can read. Not retried."""
    return submission_transition(
        submission_id=submission_id,
        from_states=from_states,
        to_state=Status.FAILED,
        error_message=message,
        finished_at=timezone.now(),
    )


def manifest_summary(manifest: Any) -> dict[str, Any]:
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
    never need a GPU.
    """
    if settings.PENTATHLON_GPU_QUEUE_ENABLED:
        kinds = set((manifest or {}).get("kinds", {}).values())
        if (
            "embeddings" in kinds
            or int((manifest or {}).get("declared_bytes", 0)) > settings.PENTATHLON_GPU_MIN_BYTES
        ):
            return settings.PENTATHLON_GPU_QUEUE
    return settings.PENTATHLON_CPU_QUEUE


def submission_enqueue_now(*, submission_id: int) -> str | None:
    """Send the evaluation message now, routed and time-limited per the submission's phase.

    Returns the queue, or None when the row is gone. Sending a message twice is harmless: the
    worker's guarded claim lets only one of them score.
    """
    from workers.tasks import submission_evaluate_task

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
    submission_evaluate_task.apply_async((submission_id,), queue=queue, soft_time_limit=soft, time_limit=hard)
    return queue


def _enqueue_evaluation(*, submission_id: int) -> None:
    """Enqueue on commit. `robust`: a broker outage must not turn an accepted upload into an error;
    the row stays QUEUED and the periodic sweeper sends its message again."""
    transaction.on_commit(lambda: submission_enqueue_now(submission_id=submission_id), robust=True)


def submission_create(
    *,
    user: AbstractBaseUser,
    phase: Phase,
    file: IO[bytes] | File,
    method_name: str,
    description: str = "",
    paper_url: str = "",
    code_url: str = "",
    is_public: bool = True,
    filename: str | None = None,
    expected_sha256: str | None = None,
) -> Submission:
    """Accept an upload: check team, phase dates, size and format, then the quota under a team lock.

    The file is copied in 1 MiB blocks to a temporary file while its sha256 is computed (never held
    in memory), inspected by the evaluation core (header only; the manifest is kept for queue
    routing) before anything is stored, stored under a generated name in the private storage, and
    queued for evaluation on commit. With `expected_sha256` (the chunked upload API) a file whose
    digest differs is refused.

    Raises:
        ApplicationError: a clear sentence for every refusal (QuotaExceededError for quotas).
        PermissionDeniedError: the user has no team in the phase's challenge.
    """
    from evaluation.errors import SubmissionError
    from evaluation.io import ReadLimits, inspect_submission
    from evaluation.validation import check_manifest

    team = _team_of(user=user, challenge=phase.challenge)
    if not team.is_approved:
        raise PermissionDeniedError(TEAM_NOT_APPROVED.format(team=team.name))
    _ensure_phase_open(phase=phase, user=user)
    name = filename or os.path.basename(getattr(file, "name", "") or "") or "submission"
    fmt = _format_of(name=name, phase=phase)
    declared = getattr(file, "size", None)
    if declared is not None and declared > settings.SUBMISSION_MAX_BYTES:
        raise ApplicationError(FILE_TOO_LARGE.format(size=declared, limit=settings.SUBMISSION_MAX_BYTES))
    with _spooled_copy(
        file, suffix=f".{fmt}", limit=settings.SUBMISSION_MAX_BYTES, too_large=FILE_TOO_LARGE
    ) as (tmp_path, size, digest):
        if size == 0:
            raise ApplicationError(FILE_EMPTY)
        if expected_sha256 is not None and expected_sha256.lower() != digest:
            raise ApplicationError(CHECKSUM_MISMATCH.format(expected=expected_sha256, actual=digest))
        with open(tmp_path, "rb") as handle:
            head = handle.read(8)
        if not head.startswith(_MAGIC[fmt]):
            raise ApplicationError(MAGIC_MISMATCH.format(name=name, fmt=fmt))
        try:
            manifest = inspect_submission(
                tmp_path, limits=ReadLimits(max_total_bytes=settings.SUBMISSION_MAX_BYTES * 64)
            )
        except SubmissionError as exc:
            raise ApplicationError(f"The file cannot be scored: {exc}") from exc
        except Exception as exc:  # hostile input must never become a server error
            logger.exception("inspect_submission raised an unexpected error on %s", name)
            raise ApplicationError(FILE_UNREADABLE.format(name=name, fmt=fmt)) from exc
        expected = list(phase.splits.values_list("dataset__name", flat=True))
        found = sorted(manifest.entries)
        if not set(found) & set(expected):
            raise ApplicationError(
                NO_PHASE_DATASET.format(
                    phase=phase.title, found=", ".join(found) or "nothing", expected=", ".join(expected)
                )
            )
        try:  # the shapes the scorer would refuse, refused now (the upload is not stored)
            check_manifest(manifest, phase_public_shapes(phase=phase))
        except SubmissionError as exc:
            raise ApplicationError(f"The file cannot be scored: {exc}") from exc
        submission = Submission(
            team=team,
            phase=phase,
            created_by=user,
            original_filename=name[:255],
            file_format=fmt,
            file_size=size,
            checksum_sha256=digest,
            method_name=method_name.strip(),
            description=description,
            paper_url=paper_url,
            code_url=code_url,
            is_public=is_public,
            is_baseline=team.is_baseline,
            manifest=manifest_summary(manifest),
        )
        stored_name = ""
        try:
            with transaction.atomic():
                _check_quota(team=team, phase=phase)
                _store_spooled(submission.file, name, tmp_path)
                stored_name = submission.file.name
                submission.full_clean()
                submission.save()
                submission_transition(
                    submission_id=submission.id,
                    from_states=(Status.SUBMITTED,),
                    to_state=Status.QUEUED,
                    queued_at=timezone.now(),
                )
                _enqueue_evaluation(submission_id=submission.id)
        except BaseException:
            if stored_name:
                submission.file.storage.delete(stored_name)
            raise
    submission.refresh_from_db()
    return submission


def _team_of(*, user: AbstractBaseUser, challenge: Challenge) -> Team:
    membership = TeamMembership.objects.filter(challenge=challenge, user=user).select_related("team").first()
    if membership is None:
        raise PermissionDeniedError(NOT_A_MEMBER)
    return membership.team


def _ensure_phase_open(*, phase: Phase, user: AbstractBaseUser) -> None:
    if not phase.ground_truth:
        raise ApplicationError(PHASE_NO_GROUND_TRUTH.format(phase=phase.title))
    if challenge_is_organiser(user=user, challenge=phase.challenge_id):
        return  # the challenge's organisers may submit baselines outside the phase's dates
    now = timezone.now()
    if now < phase.starts_at:
        raise ApplicationError(PHASE_NOT_STARTED.format(phase=phase.title, when=phase.starts_at))
    if phase.ends_at is not None and now >= phase.ends_at:
        raise ApplicationError(PHASE_ENDED.format(phase=phase.title, when=phase.ends_at))


def _format_of(*, name: str, phase: Phase) -> str:
    allowed = ", ".join(f".{fmt}" for fmt in phase.formats)
    fmt = _EXTENSIONS.get(Path(name).suffix.lower())
    if fmt is None:
        raise ApplicationError(FORMAT_UNKNOWN.format(name=name, allowed=allowed))
    if fmt not in phase.formats:
        raise ApplicationError(FORMAT_NOT_ALLOWED.format(phase=phase.title, fmt=fmt, allowed=allowed))
    return fmt


def _check_quota(*, team: Team, phase: Phase) -> None:
    """Count the team's submissions under a lock on the team row (failed and cancelled ones are free).

    On PostgreSQL `select_for_update` serialises concurrent uploads of one team; on SQLite the
    IMMEDIATE transactions serialise all writers.
    """
    Team.objects.select_for_update().filter(id=team.id).first()
    counted = Submission.objects.filter(team=team, phase=phase, quota_refunded=False).exclude(
        status__in=[Status.FAILED, Status.CANCELLED]
    )
    if phase.max_submissions_total is not None and counted.count() >= phase.max_submissions_total:
        raise QuotaExceededError(QUOTA_TOTAL.format(limit=phase.max_submissions_total, phase=phase.title))
    if phase.max_submissions_per_day is not None:
        midnight = datetime.combine(timezone.now().date(), time.min, tzinfo=timezone.get_current_timezone())
        today = counted.filter(created_at__gte=midnight, created_at__lt=midnight + timedelta(days=1)).count()
        if today >= phase.max_submissions_per_day:
            raise QuotaExceededError(QUOTA_DAY.format(limit=phase.max_submissions_per_day, phase=phase.title))


class _spooled_copy:
    """Copy an upload to a named temporary file, hashing it and enforcing a size limit on the way."""

    def __init__(self, file: IO[bytes] | File, *, suffix: str, limit: int, too_large: str) -> None:
        self.file, self.suffix, self.limit, self.too_large = file, suffix, limit, too_large
        self.path = ""

    def __enter__(self) -> tuple[str, int, str]:
        spool_dir = settings.FILE_UPLOAD_TEMP_DIR or None
        if spool_dir:
            os.makedirs(spool_dir, exist_ok=True)
        fd, self.path = tempfile.mkstemp(suffix=self.suffix, prefix="pentathlon-", dir=spool_dir)
        digest, size = hashlib.sha256(), 0
        source = self.file
        if hasattr(source, "seek"):
            source.seek(0)
        chunks = source.chunks() if hasattr(source, "chunks") else iter(lambda: source.read(1 << 20), b"")
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > self.limit:
                    self.__exit__(None, None, None)
                    raise ApplicationError(self.too_large.format(size=size, limit=self.limit))
                digest.update(chunk)
                out.write(chunk)
        return self.path, size, digest.hexdigest()

    def __exit__(self, *exc: object) -> None:
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)


class _SpooledFile(File):
    """Our own spooled copy, offered to a storage as a temporary file: a file-system storage moves it
    into place (a rename on the same file system) instead of copying every byte a second time."""

    def __init__(self, handle: IO[bytes], path: str) -> None:
        super().__init__(handle, name=os.path.basename(path))
        self._path = path

    def temporary_file_path(self) -> str:
        return self._path


def _store_spooled(field: Any, name: str, path: str) -> None:
    """Save the spooled copy at `path` into a FileField (`field.save`, not saving the model)."""
    with open(path, "rb") as handle:
        field.save(name, _SpooledFile(handle, path), save=False)


@transaction.atomic
def submission_update(
    *,
    submission: Submission,
    user: AbstractBaseUser,
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
    return submission


def submission_requeue_stale(
    *, queued_before: datetime, running_before: datetime, heartbeat_before: datetime | None = None
) -> list[int]:
    """Re-send the evaluation message of rows a broker or worker may have lost. Safe to run any time.

    * QUEUED rows queued before `queued_before` (a message the broker may have lost) are sent again;
      their `queued_at` is bumped so one row gets at most one extra message per period.
    * RUNNING rows whose lease expired (a dead worker), i.e. a heartbeat (or, without one, a start)
      older than `heartbeat_before` (default: `running_before`), are put back to QUEUED by a
      guarded UPDATE and sent again. The dead worker's claim no longer matches the row, so even if it
      wakes up it cannot store a result: nothing is scored twice.
    """
    now = timezone.now()
    heartbeat_before = heartbeat_before or running_before
    expired = Q(status=Status.RUNNING) & (
        Q(heartbeat_at__lt=heartbeat_before) | Q(heartbeat_at__isnull=True, started_at__lt=heartbeat_before)
    )
    ids: list[int] = []
    with transaction.atomic():
        for submission_id in Submission.objects.filter(expired).values_list("id", flat=True):
            if Submission.objects.filter(expired, id=submission_id).update(
                status=Status.QUEUED,
                queued_at=now,
                updated_at=now,
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
            _enqueue_evaluation(submission_id=submission_id)
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


def submission_cancel(*, submission: Submission, user: AbstractBaseUser) -> bool:
    """Cancel a submission that has not started running. Cancelled submissions do not count to the quota."""
    if not TeamMembership.objects.filter(team_id=submission.team_id, user=user).exists():
        raise PermissionDeniedError(NOT_YOUR_SUBMISSION)
    if not submission_transition(
        submission_id=submission.id,
        from_states=(Status.SUBMITTED, Status.QUEUED),
        to_state=Status.CANCELLED,
        finished_at=timezone.now(),
    ):
        raise ApplicationError(CANCEL_TOO_LATE)
    return True


# --- resumable chunked uploads ---------------------------------------------------------------------

UPLOAD_NOT_YOURS = "This upload belongs to another user."
UPLOAD_GAP = (
    "This chunk starts at byte {start:,} but the server has {received:,} bytes of the file; send the "
    "bytes from offset {received:,} (ask with HEAD or GET on the upload)."
)
UPLOAD_BEYOND_END = "This chunk ends at byte {end:,}, beyond the declared file size of {size:,} bytes."
UPLOAD_INCOMPLETE = (
    "The server has {received:,} of the {size:,} bytes; send the rest before completing the upload."
)
UPLOAD_DONE = "This upload was already completed as submission #{submission}."
UPLOAD_BUSY = "This upload is being completed; ask for its state again in a moment."
_COPY_BLOCK = 1 << 20


def chunked_upload_partial_path(upload: Any) -> Path:
    return Path(settings.UPLOAD_PARTIAL_DIR) / f"{upload.id}.part"


@transaction.atomic
def chunked_upload_create(
    *, user: AbstractBaseUser, phase: Phase, filename: str, size: int, metadata: dict[str, Any]
) -> Any:
    """Start a resumable upload after the checks that need no byte of the file (team, dates, format, size)."""
    from challenge.models import ChunkedUpload

    _team_of(user=user, challenge=phase.challenge)
    _ensure_phase_open(phase=phase, user=user)
    name = os.path.basename(filename) or "submission"
    _format_of(name=name, phase=phase)
    if size <= 0:
        raise ApplicationError(FILE_EMPTY)
    if size > settings.SUBMISSION_MAX_BYTES:
        raise ApplicationError(FILE_TOO_LARGE.format(size=size, limit=settings.SUBMISSION_MAX_BYTES))
    upload = ChunkedUpload(user=user, phase=phase, filename=name[:255], size=size, metadata=metadata)
    upload.full_clean()
    upload.save()
    path = chunked_upload_partial_path(upload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return upload


def _own_upload(*, upload: Any, user: AbstractBaseUser) -> None:
    if upload.user_id != user.pk:
        raise PermissionDeniedError(UPLOAD_NOT_YOURS)


def chunked_upload_write(
    *, upload: Any, user: AbstractBaseUser, start: int, stream: IO[bytes], length: int
) -> int:
    """Write `length` bytes read from `stream` at offset `start`; returns the new received offset.

    Idempotent: a chunk sent again (start below the received offset) rewrites the same bytes and
    leaves the offset where it is or moves it forward. A chunk cut short (the client died) keeps what
    arrived, so the client resumes from the offset the server reports. Streams in 1 MiB blocks; the
    database row is updated with one conditional UPDATE (received = max(received, end)).
    """
    from django.db.models.functions import Greatest

    from challenge.models import ChunkedUpload

    _own_upload(upload=upload, user=user)
    if upload.status != ChunkedUpload.Status.UPLOADING:
        raise ApplicationError(
            UPLOAD_DONE.format(submission=upload.submission_id) if upload.submission_id else UPLOAD_BUSY
        )
    if start > upload.received:
        raise ApplicationError(UPLOAD_GAP.format(start=start, received=upload.received))
    if start + length > upload.size:
        raise ApplicationError(UPLOAD_BEYOND_END.format(end=start + length, size=upload.size))
    written = 0
    with open(chunked_upload_partial_path(upload), "r+b") as out:
        out.seek(start)
        try:
            while written < length:
                block = stream.read(min(_COPY_BLOCK, length - written))
                if not block:
                    break
                out.write(block)
                written += len(block)
        except OSError:  # the client went away mid-chunk: keep what arrived
            logger.info("upload %s: chunk at %d cut short after %d bytes", upload.id, start, written)
        out.flush()
        os.fsync(out.fileno())
    end = start + written
    ChunkedUpload.objects.filter(id=upload.id, received__gte=start, received__lt=end).update(
        received=Greatest("received", end), updated_at=timezone.now()
    )
    upload.refresh_from_db(fields=["received", "status", "submission"])
    return upload.received


def chunked_upload_complete(*, upload: Any, user: AbstractBaseUser, sha256: str | None) -> Submission:
    """Turn a fully received upload into a submission through `submission_create` (same checks, quota and
    queueing); the sha256 the client computed must match the one computed while storing the file.

    Completing twice returns the same submission. On a refusal the upload stays open (the client may
    fix nothing but can still read the reason); the partial file is deleted once the submission exists.
    """
    from challenge.models import ChunkedUpload

    _own_upload(upload=upload, user=user)
    upload.refresh_from_db()
    if upload.submission_id:
        return upload.submission
    if upload.received < upload.size:
        raise ApplicationError(UPLOAD_INCOMPLETE.format(received=upload.received, size=upload.size))
    claimed = ChunkedUpload.objects.filter(id=upload.id, status=ChunkedUpload.Status.UPLOADING).update(
        status=ChunkedUpload.Status.COMPLETE, updated_at=timezone.now()
    )
    if not claimed:
        raise ApplicationError(UPLOAD_BUSY)
    path = chunked_upload_partial_path(upload)
    metadata = dict(upload.metadata)
    try:
        with open(path, "rb") as handle:
            submission = submission_create(
                user=user,
                phase=upload.phase,
                file=File(handle, name=upload.filename),
                filename=upload.filename,
                expected_sha256=sha256.strip() if sha256 else None,
                **metadata,
            )
    except BaseException:
        ChunkedUpload.objects.filter(id=upload.id).update(status=ChunkedUpload.Status.UPLOADING)
        raise
    ChunkedUpload.objects.filter(id=upload.id).update(submission=submission, updated_at=timezone.now())
    path.unlink(missing_ok=True)
    return submission


def chunked_upload_expire(*, older_than: datetime) -> int:
    """Delete unfinished uploads untouched since `older_than` and their partial files; returns how many rows.

    Safe to run any time and from several places: each row is deleted by a guarded DELETE (still
    unfinished, still untouched), so an upload that received a chunk meanwhile survives. Partial files
    in this process's UPLOAD_PARTIAL_DIR that no row owns any more (their row was expired by a process
    that does not share the directory, e.g. a worker on another machine) are removed too once their
    modification time is older than `older_than`: running the command on each web host cleans its disk.
    """
    from challenge.models import ChunkedUpload

    unfinished = Q(updated_at__lt=older_than, submission__isnull=True)
    deleted = 0
    for upload in ChunkedUpload.objects.filter(unfinished).only("id"):
        if ChunkedUpload.objects.filter(unfinished, id=upload.id).delete()[0]:
            chunked_upload_partial_path(upload).unlink(missing_ok=True)
            deleted += 1
    partial_dir = Path(settings.UPLOAD_PARTIAL_DIR)
    if partial_dir.is_dir():
        cutoff = older_than.timestamp()
        for path in partial_dir.glob("*.part"):
            try:
                if (
                    path.stat().st_mtime < cutoff
                    and not ChunkedUpload.objects.filter(id=path.stem, submission__isnull=True).exists()
                ):
                    path.unlink(missing_ok=True)
            except (OSError, ValidationError):  # vanished meanwhile, or not an upload id
                continue
    if deleted:
        logger.info("expired %d abandoned chunked upload(s)", deleted)
    return deleted


def chunked_upload_expire_now() -> int:
    """`chunked_upload_expire` for uploads idle longer than UPLOAD_EXPIRES_AFTER (the periodic task's entry)."""
    return chunked_upload_expire(older_than=timezone.now() - timedelta(seconds=settings.UPLOAD_EXPIRES_AFTER))
