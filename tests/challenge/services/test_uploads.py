"""Chunked uploads' limits (SECURITY.md, finding 15): approved teams only, caps per user on open uploads and
on the bytes they declare, and partial uploads that expire."""

from __future__ import annotations

import pytest

from challenge.models import ChunkedUpload
from challenge.services import chunked_upload_create
from core.exceptions import ApplicationError, PermissionDeniedError

pytestmark = pytest.mark.django_db


def _open(user, phase, size=1000):
    return chunked_upload_create(
        user=user, phase=phase, filename="big.npz", size=size, metadata={"method_name": "chunked"}
    )


def test_an_unapproved_team_cannot_open_an_upload(participant, phase, team):
    team.is_approved = False
    team.save()
    with pytest.raises(PermissionDeniedError, match="waiting for the organisers' approval"):
        _open(participant, phase)
    assert not ChunkedUpload.objects.exists()


def test_open_uploads_per_user_are_capped(participant, phase, settings):
    settings.PENTATHLON_UPLOAD_MAX_OPEN = 2
    _open(participant, phase)
    _open(participant, phase)
    with pytest.raises(ApplicationError, match="2 unfinished uploads, the most allowed at once is 2"):
        _open(participant, phase)
    assert ChunkedUpload.objects.filter(user=participant).count() == 2


def test_bytes_in_flight_per_user_are_capped(participant, phase, settings):
    settings.PENTATHLON_UPLOAD_MAX_OPEN = 100
    settings.PENTATHLON_UPLOAD_MAX_BYTES_IN_FLIGHT = 2500
    _open(participant, phase, size=1000)
    _open(participant, phase, size=1000)
    with pytest.raises(ApplicationError, match="limit of 2,500 bytes in flight"):
        _open(participant, phase, size=1000)
    _open(participant, phase, size=500)  # up to the limit exactly


def test_a_completed_or_expired_upload_frees_its_place(participant, phase, settings):
    from datetime import timedelta

    from django.utils import timezone

    from challenge.services import chunked_upload_expire_now

    settings.PENTATHLON_UPLOAD_MAX_OPEN = 1
    first = _open(participant, phase)
    ChunkedUpload.objects.filter(id=first.id).update(
        updated_at=timezone.now() - timedelta(seconds=settings.UPLOAD_EXPIRES_AFTER + 60)
    )
    assert chunked_upload_expire_now() == 1
    _open(participant, phase)


# --- the sha256 computed while the chunks arrive -----------------------------------------------------


def _send(upload, user, data: bytes, chunk: int, starts=None) -> None:
    import io

    from challenge.services import chunked_upload_write

    for start in starts if starts is not None else range(0, len(data), chunk):
        part = data[start : start + chunk]
        upload.refresh_from_db()
        chunked_upload_write(upload=upload, user=user, start=start, stream=io.BytesIO(part), length=len(part))


def _complete(upload, user):
    from challenge.services import chunked_upload_complete

    return chunked_upload_complete(upload=upload, user=user, sha256=None)


@pytest.fixture
def full_pass(monkeypatch):
    """Counts the second passes over a spooled file (`spooled_copy` hashing it in place)."""
    from challenge.services import files

    calls = []
    original = files._sha256_of

    def counted(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr(files, "_sha256_of", counted)
    return calls


def test_chunks_sent_in_order_are_hashed_as_they_arrive(participant, phase, make_submission_file, full_pass):
    import hashlib

    data = make_submission_file("npz").read_bytes()
    upload = _open(participant, phase, size=len(data))
    _send(upload, participant, data, chunk=len(data) // 3 + 1)
    submission = _complete(upload, participant)
    assert submission.checksum_sha256 == hashlib.sha256(data).hexdigest()
    assert full_pass == []  # no second pass over the file


def test_a_chunk_sent_again_makes_completion_hash_the_file(
    participant, phase, make_submission_file, full_pass
):
    import hashlib

    data = make_submission_file("npz").read_bytes()
    chunk = len(data) // 3 + 1
    upload = _open(participant, phase, size=len(data))
    _send(upload, participant, data, chunk=chunk, starts=[0, chunk, 0, chunk, 2 * chunk])
    submission = _complete(upload, participant)
    assert submission.checksum_sha256 == hashlib.sha256(data).hexdigest()
    assert len(full_pass) == 1


def test_a_write_by_another_process_is_never_missed(participant, phase, make_submission_file, full_pass):
    """Another web process rewrote bytes of the file (and counted its write in the row, as every write
    does): this process's digest of the original bytes is not the file's and must not be used."""
    import hashlib

    from django.db.models import F

    from challenge.services.uploads import chunked_upload_partial_path

    data = make_submission_file("npz").read_bytes()
    upload = _open(participant, phase, size=len(data))
    _send(upload, participant, data, chunk=len(data) // 2 + 1)
    changed = bytearray(data)
    changed[len(data) // 2] ^= 0x01  # a bit of the array data: the file stays well formed
    chunked_upload_partial_path(upload).write_bytes(bytes(changed))
    ChunkedUpload.objects.filter(id=upload.id).update(writes=F("writes") + 1)
    submission = _complete(upload, participant)
    assert len(full_pass) == 1
    assert submission.checksum_sha256 == hashlib.sha256(changed).hexdigest()
