"""Spooling uploads: no extra full pass over a file that is already on disk."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile

from challenge.services.files import HashingUploadHandler, SpooledFile, spooled_copy

DATA = b"PK\x05\x06" + bytes(range(256)) * 4096


def _on_disk(tmp_path):
    path = tmp_path / "partial.npz"
    path.write_bytes(DATA)
    return path


def test_a_file_on_disk_is_linked_not_copied_and_hashed_in_place(tmp_path):
    path = _on_disk(tmp_path)
    with (
        open(path, "rb") as handle,
        spooled_copy(
            SpooledFile(handle, str(path)), suffix=".npz", limit=10**9, too_large="{size} {limit}"
        ) as (spooled, size, digest),
    ):
        assert os.stat(spooled).st_ino == os.stat(path).st_ino  # the same bytes, not a copy
        assert (size, digest) == (len(DATA), hashlib.sha256(DATA).hexdigest())
    assert not os.path.exists(spooled) and path.exists()  # the link goes, the upload stays


def test_a_digest_computed_on_arrival_is_used_and_the_limit_still_holds(tmp_path):
    from core.exceptions import ApplicationError

    path = _on_disk(tmp_path)
    with open(path, "rb") as handle:
        arrived = SpooledFile(handle, str(path))
        arrived.sha256 = "computed-while-receiving"
        with spooled_copy(arrived, suffix=".npz", limit=10**9, too_large="{size} {limit}") as (_, _, digest):
            assert digest == "computed-while-receiving"  # not read again
        with pytest.raises(ApplicationError, match=f"{len(DATA)} 10"):
            with spooled_copy(arrived, suffix=".npz", limit=10, too_large="{size} {limit}"):
                pass


def test_the_upload_handler_hashes_the_bytes_as_they_arrive(settings):
    handler = HashingUploadHandler()
    handler.new_file("file", "sub.npz", "application/octet-stream", len(DATA))
    for start in range(0, len(DATA), 65536):
        handler.receive_data_chunk(DATA[start : start + 65536], start)
    uploaded = handler.file_complete(len(DATA))
    assert isinstance(uploaded, TemporaryUploadedFile)
    assert uploaded.sha256 == hashlib.sha256(DATA).hexdigest()
    uploaded.close()


def test_an_uploaded_submission_keeps_the_digest_of_its_bytes(upload, make_submission_file):
    submission = upload("npz", seed=3)
    with submission.file.open("rb") as stored:
        assert submission.checksum_sha256 == hashlib.sha256(stored.read()).hexdigest()
