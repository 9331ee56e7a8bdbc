"""Chunked uploads' limits (issue 16, finding 4): approved teams only, caps per user on open uploads and
on the bytes they declare, and partial uploads that expire."""

from __future__ import annotations

import pytest

from challenge.exceptions import ApplicationError, PermissionDeniedError
from challenge.models import ChunkedUpload
from challenge.services import chunked_upload_create

pytestmark = pytest.mark.django_db


def _open(user, phase, size=1000):
    return chunked_upload_create(user=user, phase=phase, filename="big.npz", size=size, metadata={})


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
