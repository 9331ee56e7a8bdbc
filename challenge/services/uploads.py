"""Resumable chunked uploads: a large file sent in pieces, then turned into a submission."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from challenge.exceptions import UploadStateError
from challenge.models import ChunkedUpload, Phase, Submission
from challenge.services.acceptance import TEAM_NOT_APPROVED, submission_create
from challenge.services.files import SpooledFile
from challenge.services.intake import (
    FILE_EMPTY,
    FILE_TOO_LARGE,
    duplicate_check,
    phase_ensure_open,
    phase_format_of,
)
from challenge.services.teams import team_of
from core.exceptions import ApplicationError, PermissionDeniedError

if TYPE_CHECKING:
    from _hashlib import HASH

logger = logging.getLogger(__name__)

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
UPLOAD_CLOSED = (
    "This upload was completed (or is being completed) while this chunk was waiting; the accepted file "
    "is sealed and no chunk can change it any more. Ask for the upload's state with GET."
)
UPLOAD_CHUNK_IN_FLIGHT = (
    "A chunk of this upload is still arriving; wait until every chunk request has been answered, "
    "then complete the upload again."
)
UPLOADS_TOO_MANY_OPEN = (
    "You have {open} unfinished uploads, the most allowed at once is {limit}; complete them or wait "
    "until they expire (after {hours:g} hours without a chunk) before starting another."
)
UPLOADS_TOO_MANY_BYTES = (
    "Your unfinished uploads declare {open:,} bytes; with this one ({size:,} bytes) they would pass the "
    "limit of {limit:,} bytes in flight per user. Complete or abandon an upload first."
)
_COPY_BLOCK = 1 << 20


@dataclass
class _RunningDigest:
    """The sha256 of an upload's first `offset` bytes, made by this process's `writes` chunk writes."""

    offset: int
    writes: int
    digest: HASH


class _RunningDigests:
    """Each upload's sha256, computed in the web process as its chunks are written in order, so that
    completing it needs no second pass over the file (934 MB: about 1 s).

    Only a trustworthy digest is ever used: one made by every chunk write of the upload (the row's
    `writes` counts them, whichever process or thread made them), in order, and ending at the file's
    size. A chunk sent to another process, resent, written out of order or at the same time as
    another drops it, and completion hashes the file instead. At most `limit` uploads are followed
    at once (the oldest is forgotten). No lock is held while bytes arrive: the count alone decides.
    """

    def __init__(self, limit: int = 64) -> None:
        self._entries: OrderedDict[str, _RunningDigest] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def take(self, key: str, *, start: int, writes: int) -> _RunningDigest | None:
        """The digest to continue at `start` (a new one at 0 before any write), or None."""
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None and entry.offset == start and entry.writes == writes:
            return entry
        if start == 0 and writes == 0:
            return _RunningDigest(offset=0, writes=0, digest=hashlib.sha256())
        return None

    def put(self, key: str, entry: _RunningDigest) -> None:
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)

    def finish(self, key: str, *, size: int, writes: int) -> str | None:
        """The digest of a complete upload when this process made it whole, else None; forgets it."""
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is None or entry.offset != size or entry.writes != writes:
            return None
        return entry.digest.hexdigest()


_running_digests = _RunningDigests()


def chunked_upload_partial_path(upload: ChunkedUpload) -> Path:
    return Path(settings.UPLOAD_PARTIAL_DIR) / f"{upload.id}.part"


@transaction.atomic
def chunked_upload_create(
    *,
    user: User,
    phase: Phase,
    filename: str,
    size: int,
    metadata: dict[str, Any],
    sha256: str | None = None,
) -> ChunkedUpload:
    """Start a resumable upload after the checks that need no byte of the file (team, dates, format, size).

    With the file's `sha256` declared, a file the team already submitted to the phase is refused now,
    before any byte is sent (DuplicateSubmissionError); the digest is kept and checked at completion.

    Only an approved team's members open uploads, and a user has at most PENTATHLON_UPLOAD_MAX_OPEN
    unfinished uploads declaring at most PENTATHLON_UPLOAD_MAX_BYTES_IN_FLIGHT bytes together (counted
    under a lock on the user's row, so concurrent creations cannot pass the caps together).
    """
    team = team_of(user=user, challenge=phase.challenge)
    if not team.is_approved:
        raise PermissionDeniedError(TEAM_NOT_APPROVED.format(team=team.name))
    phase_ensure_open(phase=phase, user=user)
    name = os.path.basename(filename) or "submission"
    phase_format_of(name=name, phase=phase)
    if size <= 0:
        raise ApplicationError(FILE_EMPTY)
    if size > settings.SUBMISSION_MAX_BYTES:
        raise ApplicationError(FILE_TOO_LARGE.format(size=size, limit=settings.SUBMISSION_MAX_BYTES))
    sha256 = (sha256 or "").strip().lower()
    if sha256:
        duplicate_check(team=team, phase=phase, sha256=sha256)
    _open_uploads_check(user=user, size=size)
    upload = ChunkedUpload(
        user=user, phase=phase, filename=name[:255], size=size, metadata=metadata, sha256=sha256
    )
    upload.full_clean()
    upload.save()
    path = chunked_upload_partial_path(upload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return upload


def _open_uploads_check(*, user: User, size: int) -> None:
    """Refuse a new upload of `size` bytes past the user's caps on unfinished uploads, counted under a
    lock on the user's row (the caller's transaction) so that concurrent creations cannot pass together."""
    from django.contrib.auth import get_user_model
    from django.db.models import Sum

    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    unfinished = ChunkedUpload.objects.filter(
        user=user, status=ChunkedUpload.Status.UPLOADING, submission__isnull=True
    ).aggregate(count=Count("id"), declared=Sum("size"))
    if unfinished["count"] >= settings.PENTATHLON_UPLOAD_MAX_OPEN:
        raise ApplicationError(
            UPLOADS_TOO_MANY_OPEN.format(
                open=unfinished["count"],
                limit=settings.PENTATHLON_UPLOAD_MAX_OPEN,
                hours=settings.UPLOAD_EXPIRES_AFTER / 3600,
            )
        )
    declared = unfinished["declared"] or 0
    if declared + size > settings.PENTATHLON_UPLOAD_MAX_BYTES_IN_FLIGHT:
        raise ApplicationError(
            UPLOADS_TOO_MANY_BYTES.format(
                open=declared, size=size, limit=settings.PENTATHLON_UPLOAD_MAX_BYTES_IN_FLIGHT
            )
        )


def _own_upload(*, upload: ChunkedUpload, user: User) -> None:
    if upload.user_id != user.pk:
        raise PermissionDeniedError(UPLOAD_NOT_YOURS)


def chunked_upload_write(
    *, upload: ChunkedUpload, user: User, start: int, stream: IO[bytes], length: int
) -> int:
    """Write `length` bytes read from `stream` at offset `start`; returns the new received offset.

    Idempotent: a chunk sent again (start below the received offset) rewrites the same bytes and
    leaves the offset where it is or moves it forward. A chunk cut short (the client died) keeps what
    arrived, so the client resumes from the offset the server reports. Streams in 1 MiB blocks; the
    database row is updated with one conditional UPDATE (received = max(received, end)).
    """
    from django.db.models import F
    from django.db.models.functions import Greatest

    _own_upload(upload=upload, user=user)
    _ensure_writable(upload)
    if start > upload.received:
        raise ApplicationError(UPLOAD_GAP.format(start=start, received=upload.received))
    if start + length > upload.size:
        raise ApplicationError(UPLOAD_BEYOND_END.format(end=start + length, size=upload.size))
    key = str(upload.id)
    try:
        out = open(chunked_upload_partial_path(upload), "r+b")  # noqa: SIM115 - closed below
    except FileNotFoundError:  # completed (the partial file is gone) or expired meanwhile
        raise UploadStateError(UPLOAD_CLOSED) from None
    with out:
        # Shared with other chunk writes, exclusive with completion: once completion holds the file,
        # a write waits here and then finds the upload no longer open (docs/deploying.md, "Sealed files").
        fcntl.flock(out.fileno(), fcntl.LOCK_SH)
        upload.refresh_from_db(fields=["received", "status", "submission", "writes"])
        if upload.status != ChunkedUpload.Status.UPLOADING:
            raise UploadStateError(UPLOAD_CLOSED)
        if start > upload.received:
            raise ApplicationError(UPLOAD_GAP.format(start=start, received=upload.received))
        running = _running_digests.take(key, start=start, writes=upload.writes)
        end = start + _chunk_copy(stream, out, start=start, length=length, running=running, upload=upload)
        moved = ChunkedUpload.objects.filter(id=upload.id, received__gte=start).update(
            received=Greatest("received", end), writes=F("writes") + 1, updated_at=timezone.now()
        )
        if not moved:  # every write is counted, or a digest could miss bytes it never saw
            ChunkedUpload.objects.filter(id=upload.id).update(writes=F("writes") + 1)
        upload.refresh_from_db(fields=["received", "status", "submission", "writes"])
    if running is not None:
        running.offset, running.writes = end, running.writes + 1
        if running.writes == upload.writes:  # no other process wrote meanwhile
            _running_digests.put(key, running)
    return upload.received


def _chunk_copy(
    stream: IO[bytes],
    out: IO[bytes],
    *,
    start: int,
    length: int,
    running: _RunningDigest | None,
    upload: ChunkedUpload,
) -> int:
    """Copy up to `length` bytes of `stream` to `out` at `start`, in blocks, feeding the running digest;
    returns the bytes written. A client gone mid-chunk keeps what arrived."""
    written = 0
    out.seek(start)
    try:
        while written < length:
            block = stream.read(min(_COPY_BLOCK, length - written))
            if not block:
                break
            out.write(block)
            if running is not None:
                running.digest.update(block)
            written += len(block)
    except OSError:  # the client went away mid-chunk: keep what arrived
        logger.info("upload %s: chunk at %d cut short after %d bytes", upload.id, start, written)
    # No fsync per chunk: the completed file is made durable once, before it is accepted
    # (`spooled_copy`); a chunk lost to a crash of the machine fails the sha256 check there.
    out.flush()
    return written


def _ensure_writable(upload: ChunkedUpload) -> None:
    if upload.status != ChunkedUpload.Status.UPLOADING:
        raise UploadStateError(
            UPLOAD_DONE.format(submission=upload.submission_id) if upload.submission_id else UPLOAD_BUSY
        )


def _lock_for_completion(handle: IO[bytes], *, wait: float) -> None:
    """Hold the partial file exclusively: no chunk write is in flight, and none can start writing
    until the lock is let go (each re-checks the upload's state under it). Waits up to `wait` s."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise UploadStateError(UPLOAD_CHUNK_IN_FLIGHT) from None
            time.sleep(0.05)


def chunked_upload_complete(*, upload: ChunkedUpload, user: User, sha256: str | None) -> Submission:
    """Turn a fully received upload into a submission through `submission_create` (same checks, quota and
    queueing); the sha256 the client computed (given now, or declared at the start) must match the one
    computed while storing the file. A file the team already submitted is refused here too.

    Completing twice returns the same submission. On a refusal the upload stays open (the client may
    fix nothing but can still read the reason); the partial file is deleted once the submission exists.
    """
    _own_upload(upload=upload, user=user)
    upload.refresh_from_db()
    if upload.submission is not None:  # no query when the id is None
        return upload.submission
    if upload.received < upload.size:
        raise ApplicationError(UPLOAD_INCOMPLETE.format(received=upload.received, size=upload.size))
    path = chunked_upload_partial_path(upload)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise UploadStateError(UPLOAD_BUSY) from None
    with handle:
        # Sealed: the file is taken only once no chunk write is in flight, and every later write
        # finds the upload complete under the same lock, so the accepted bytes cannot change.
        _lock_for_completion(handle, wait=float(settings.PENTATHLON_UPLOAD_COMPLETE_WAIT))
        claimed = ChunkedUpload.objects.filter(
            id=upload.id, status=ChunkedUpload.Status.UPLOADING, received__gte=upload.size
        ).update(status=ChunkedUpload.Status.COMPLETE, updated_at=timezone.now())
        if not claimed:
            upload.refresh_from_db()
            if upload.submission is not None:
                return upload.submission
            raise UploadStateError(UPLOAD_BUSY)
        metadata = dict(upload.metadata)
        upload.refresh_from_db(fields=["writes"])  # after the claim: no write can start any more
        known = _running_digests.finish(str(upload.id), size=upload.size, writes=upload.writes)
        try:
            submission = submission_create(
                user=user,
                phase=upload.phase,
                # on disk already: linked into the spool, not copied (deleted below once stored);
                # hashed as it arrived when this process received every chunk in order
                file=SpooledFile(handle, str(path), sha256=known),
                filename=upload.filename,
                expected_sha256=(sha256 or "").strip() or upload.sha256 or None,
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
