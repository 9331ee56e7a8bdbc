"""Accepting an upload as a submission: the team, the phase, the file's size, checksum, format and
datasets are checked, then (under a team lock) that the team has not sent this file before and its
quota, then the file is stored and the row is queued.

The row's only status change here (SUBMITTED -> QUEUED) goes through the state machine,
`challenge.services.submissions.submission_transition`.
"""

from __future__ import annotations

import logging
import os
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from challenge.models import Phase, Submission
from challenge.publication import phase_gallery_ids, phase_public_shapes
from challenge.services import dispatch
from challenge.services.code import program_check
from challenge.services.files import spooled_copy, store_spooled
from challenge.services.intake import (
    FILE_EMPTY,
    FILE_TOO_LARGE,
    MAGIC,
    MAGIC_MISMATCH,
    duplicate_check,
    phase_ensure_open,
    phase_format_of,
    quota_check,
    team_lock,
)
from challenge.services.submissions import submission_transition
from challenge.services.teams import team_of
from challenge.services.terms import terms_ensure_accepted
from core.exceptions import ApplicationError, PermissionDeniedError

logger = logging.getLogger(__name__)
Status = Submission.Status

FILE_UNREADABLE = (
    "The file {name!r} could not be read as a .{fmt} submission; check that it is complete and valid."
)
NO_PHASE_DATASET = (
    "The file holds no dataset of the phase {phase!r} (found: {found}); expected some of {expected}."
)
TEAM_NOT_APPROVED = (
    "Your team {team!r} is waiting for the organisers' approval; you can submit once it is approved."
)
GALLERY_UNREADABLE = (
    "The file's top-k lists name gallery ids, and the phase's gallery list cannot be read right now to"
    " check them; try again later, or send 0-based indices instead."
)
CHECKSUM_MISMATCH = (
    "The file received has sha256 {actual}, not {expected}: it was corrupted or changed during "
    "the upload; upload it again."
)


def _predictions_check(tmp_path: str, *, name: str, fmt: str, phase: Phase) -> dict[str, Any]:
    """Inspect a predictions file (headers only) and check it against the phase's shapes; its summary."""
    from evaluation.errors import SubmissionError
    from evaluation.io import ReadLimits, inspect_submission
    from evaluation.validation import check_manifest, check_topk_lists

    try:
        limits = ReadLimits(max_total_bytes=settings.SUBMISSION_MAX_BYTES * 64)
        names = list(phase.challenge.datasets.values_list("name", flat=True))
        manifest = inspect_submission(tmp_path, limits=limits, file_name=name, datasets=names or None)
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
        shapes = phase_public_shapes(phase=phase)
        check_manifest(manifest, shapes)
        galleries = _galleries(phase=phase, datasets=manifest.gallery_id_datasets)
        # read within the shapes: memory is bounded by the phase, not by the file
        check_topk_lists(tmp_path, manifest, shapes, limits=limits, file_name=name, galleries=galleries)
    except SubmissionError as exc:
        raise ApplicationError(f"The file cannot be scored: {exc}") from exc
    return dispatch.manifest_summary(manifest)


def _galleries(*, phase: Phase, datasets: tuple[str, ...]) -> dict[str, tuple[str, ...]] | None:
    """The gallery ids that top-k lists naming them are read against; None (no read of the ground
    truth) when every list holds indices."""
    from evaluation.errors import GroundTruthError

    if not datasets:
        return None
    try:
        return phase_gallery_ids(phase=phase, datasets=datasets)
    except (ValueError, OSError, GroundTruthError) as exc:
        logger.exception("the gallery of phase %s could not be read for an upload", phase.pk)
        raise ApplicationError(GALLERY_UNREADABLE) from exc


def submission_create(
    *,
    user: User,
    phase: Phase,
    file: IO[bytes] | File[bytes],
    method_name: str,
    description: str = "",
    paper_url: str = "",
    code_url: str = "",
    is_public: bool = True,
    filename: str | None = None,
    expected_sha256: str | None = None,
) -> Submission:
    """Accept an upload: check team, phase dates, size and format, then under a team lock that the team
    has not submitted the same file (sha256) to the phase and its quota.

    The file is copied in 1 MiB blocks to a temporary file while its sha256 is computed (never held
    in memory), inspected by the evaluation core (header only; the manifest is kept for queue
    routing) before anything is stored, stored under a generated name in the private storage, and
    queued for evaluation on commit. With `expected_sha256` (the chunked upload API) a file whose
    digest differs is refused. A file the team already submitted (not failed or cancelled) is refused
    before it is stored and before the quota is counted.

    Raises:
        ApplicationError: a clear sentence for every refusal (QuotaExceededError for quotas,
            DuplicateSubmissionError, with the earlier submission, for a file sent again).
        PermissionDeniedError: the user has no team in the phase's challenge, or has not accepted the
            challenge's current terms.
    """
    team = team_of(user=user, challenge=phase.challenge)
    if not team.is_approved:
        raise PermissionDeniedError(TEAM_NOT_APPROVED.format(team=team.name))
    terms_ensure_accepted(challenge=phase.challenge, user=user, what="submitting")
    phase_ensure_open(phase=phase, user=user)
    name = filename or os.path.basename(getattr(file, "name", "") or "") or "submission"
    fmt = phase_format_of(name=name, phase=phase)
    declared = getattr(file, "size", None)
    if declared is not None and declared > settings.SUBMISSION_MAX_BYTES:
        raise ApplicationError(FILE_TOO_LARGE.format(size=declared, limit=settings.SUBMISSION_MAX_BYTES))
    with spooled_copy(
        file, suffix=f".{fmt}", limit=settings.SUBMISSION_MAX_BYTES, too_large=FILE_TOO_LARGE
    ) as (tmp_path, size, digest):
        if expected_sha256 is not None and expected_sha256.lower() != digest:
            raise ApplicationError(CHECKSUM_MISMATCH.format(expected=expected_sha256, actual=digest))
        duplicate_check(team=team, phase=phase, sha256=digest)  # early, before the file is inspected
        summary = _upload_summary(tmp_path, size=size, name=name, fmt=fmt, phase=phase)
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
            manifest=summary,
        )
        _store_and_queue(submission, name=name, tmp_path=tmp_path)
    submission.refresh_from_db()
    return submission


def _upload_summary(tmp_path: str, *, size: int, name: str, fmt: str, phase: Phase) -> dict[str, Any]:
    """The manifest of a spooled upload (a program's, or the predictions' inspected header), after the
    checks that need no parsing: not empty, and the format's magic bytes."""
    if size == 0:
        raise ApplicationError(FILE_EMPTY)
    with open(tmp_path, "rb") as handle:
        head = handle.read(8)
    if not head.startswith(MAGIC[fmt]):
        raise ApplicationError(MAGIC_MISMATCH.format(name=name, fmt=fmt))
    if phase.is_code:
        return {"program": program_check(path=tmp_path), "gpu": phase.code_gpu}
    return _predictions_check(tmp_path, name=name, fmt=fmt, phase=phase)


def _store_and_queue(submission: Submission, *, name: str, tmp_path: str) -> None:
    """Under the team's lock: the duplicate and quota checks again, then store the file, save the row
    and queue it on commit; a stored file whose row did not commit is deleted."""
    team, phase = submission.team, submission.phase
    stored_name = ""
    try:
        with transaction.atomic():
            team_lock(team=team)  # the same file sent twice at once: the second sees the first
            duplicate_check(team=team, phase=phase, sha256=submission.checksum_sha256)
            quota_check(team=team, phase=phase)
            store_spooled(submission.file, name, tmp_path)
            stored_name = submission.file.name or ""
            submission.full_clean()
            submission.save()
            submission_transition(
                submission_id=submission.id,
                from_states=(Status.SUBMITTED,),
                to_state=Status.QUEUED,
                queued_at=timezone.now(),
            )
            dispatch.evaluation_enqueue_on_commit(submission_id=submission.id)
    except BaseException:
        if stored_name:
            submission.file.storage.delete(stored_name)
        raise
