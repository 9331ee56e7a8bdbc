"""Retention: the stored files of failed and cancelled submissions are deleted after a period.

No status is written here: a row keeps its status, message, checksum and size; only its file goes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from challenge.models import Submission

logger = logging.getLogger(__name__)
Status = Submission.Status


def submission_files_expire(*, ended_before: datetime) -> tuple[int, int]:
    """Delete the stored files of FAILED and CANCELLED submissions that ended before `ended_before`.

    The rows stay (status, message, checksum, size: the team's history); their `file` becomes empty,
    so a re-score skips them. Each row is emptied by a guarded UPDATE before its file is deleted, so
    two sweeps never race and a row re-queued meanwhile keeps its file. Returns (files, bytes) deleted.
    """
    ended = Q(status__in=[Status.FAILED, Status.CANCELLED], finished_at__lt=ended_before) & ~Q(file="")
    files = freed = 0
    for submission in Submission.objects.filter(ended).only("id", "file", "file_size"):
        name = submission.file.name or ""  # never empty: `ended` excludes rows without a file
        if not Submission.objects.filter(ended, id=submission.id, file=name).update(
            file="", updated_at=timezone.now()
        ):
            continue
        try:
            submission.file.storage.delete(name)
        except OSError:  # already gone: the row says so now
            logger.warning("submission %s: stored file %s could not be deleted", submission.id, name)
        files, freed = files + 1, freed + submission.file_size
    if files:
        logger.info("deleted %d stored file(s) of failed or cancelled submissions (%d bytes)", files, freed)
    return files, freed


def submission_files_expire_now() -> tuple[int, int]:
    """`submission_files_expire` past PENTATHLON_FAILED_FILE_RETENTION_DAYS (the periodic task's entry)."""
    days = float(settings.PENTATHLON_FAILED_FILE_RETENTION_DAYS)
    return submission_files_expire(ended_before=timezone.now() - timedelta(days=days))
