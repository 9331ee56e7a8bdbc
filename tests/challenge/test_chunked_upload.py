"""Resumable chunked uploads: offsets, idempotent re-sends, gaps, checksum, and the same submission service."""

from __future__ import annotations

import hashlib

import pytest

from challenge.models import ChunkedUpload, Submission

# transaction=True: the upload views run outside the request transaction, and DRF marks the
# enclosing atomic block for rollback on every error response (the test case's own block).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client_of(api_client):
    def login(user):
        api_client.force_authenticate(user)
        return api_client

    return login


def _start(client, phase, path, **extra):
    response = client.post(
        "/api/v1/uploads/",
        {
            "phase": phase.id,
            "filename": path.name,
            "size": path.stat().st_size,
            "method_name": "chunked",
            **extra,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _put(client, upload_id, data, start, total):
    return client.generic(
        "PUT",
        f"/api/v1/uploads/{upload_id}/",
        data,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{start + len(data) - 1}/{total}",
    )


def test_chunked_upload_resumes_and_creates_the_submission(
    client_of, participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    client = client_of(participant)
    path = make_submission_file("npz")
    data = path.read_bytes()
    state = _start(client, phase, path, is_public=False)
    assert state["offset"] == 0 and state["chunk_size"] > 0
    third = len(data) // 3
    assert _put(client, state["id"], data[:third], 0, len(data)).json()["offset"] == third
    # a re-sent chunk is harmless; a chunk past the received offset is refused with the offset to resume from
    assert _put(client, state["id"], data[:third], 0, len(data)).json()["offset"] == third
    gap = _put(client, state["id"], data[2 * third :], 2 * third, len(data))
    assert gap.status_code == 409 and gap.json()["offset"] == third and gap["Upload-Offset"] == str(third)
    head = client.head(f"/api/v1/uploads/{state['id']}/")
    assert head.status_code == 200 and head["Upload-Offset"] == str(third)
    # too early to complete
    early = client.post(f"/api/v1/uploads/{state['id']}/complete/", {"sha256": "0" * 64}, format="json")
    assert early.status_code == 400 and "send the rest" in early.json()["detail"]
    response = client.generic(
        "PATCH",
        f"/api/v1/uploads/{state['id']}/",
        data[third:],
        content_type="application/octet-stream",
        HTTP_UPLOAD_OFFSET=str(third),
    )
    assert response.json()["offset"] == len(data)
    wrong = client.post(f"/api/v1/uploads/{state['id']}/complete/", {"sha256": "0" * 64}, format="json")
    assert wrong.status_code == 400 and "sha256" in wrong.json()["detail"]
    digest = hashlib.sha256(data).hexdigest()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(f"/api/v1/uploads/{state['id']}/complete/", {"sha256": digest}, format="json")
    assert done.status_code == 201, done.content
    submission = Submission.objects.get(id=done.json()["id"])
    assert submission.checksum_sha256 == digest and submission.file_size == len(data)
    assert submission.method_name == "chunked" and submission.is_public is False
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FINISHED and submission.scored_count == 1
    again = client.post(f"/api/v1/uploads/{state['id']}/complete/", {"sha256": digest}, format="json")
    assert again.json()["id"] == submission.id  # completing twice returns the same submission
    assert Submission.objects.count() == 1
    assert ChunkedUpload.objects.get(id=state["id"]).status == ChunkedUpload.Status.COMPLETE


def test_chunked_upload_checks_size_format_and_owner(
    client_of, participant, other_participant, phase, make_submission_file, settings
):
    client = client_of(participant)
    response = client.post(
        "/api/v1/uploads/",
        {"phase": phase.id, "filename": "x.txt", "size": 10, "method_name": "m"},
        format="json",
    )
    assert response.status_code == 400 and ".zip" in response.json()["detail"]
    response = client.post(
        "/api/v1/uploads/",
        {
            "phase": phase.id,
            "filename": "x.npz",
            "size": settings.SUBMISSION_MAX_BYTES + 1,
            "method_name": "m",
        },
        format="json",
    )
    assert response.status_code == 400 and "largest submission" in response.json()["detail"]
    path = make_submission_file("npz")
    state = _start(client, phase, path)
    other = client_of(other_participant)
    assert other.get(f"/api/v1/uploads/{state['id']}/").status_code == 404
    client = client_of(participant)
    bad = client.generic(
        "PUT", f"/api/v1/uploads/{state['id']}/", b"abc", content_type="application/octet-stream"
    )
    assert bad.status_code == 400 and "Content-Range" in bad.json()["detail"]


def test_abandoned_uploads_and_orphaned_partial_files_expire(participant, phase, settings, tmp_path):
    import io
    import os
    import uuid
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from challenge.services import chunked_upload_create, chunked_upload_partial_path
    from tests.factories import SubmissionFactory

    settings.UPLOAD_PARTIAL_DIR = tmp_path
    settings.UPLOAD_EXPIRES_AFTER = 3600

    def create():
        return chunked_upload_create(
            user=participant, phase=phase, filename="x.npz", size=10, metadata={"method_name": "m"}
        )

    abandoned, active, completed = create(), create(), create()
    long_ago = timezone.now() - timedelta(hours=2)
    ChunkedUpload.objects.filter(id__in=[abandoned.id, completed.id]).update(updated_at=long_ago)
    ChunkedUpload.objects.filter(id=completed.id).update(
        status=ChunkedUpload.Status.COMPLETE,
        submission=SubmissionFactory(phase=phase, team=participant.teams.get()),
    )
    old_orphan, new_orphan = tmp_path / f"{uuid.uuid4()}.part", tmp_path / f"{uuid.uuid4()}.part"
    for orphan in (old_orphan, new_orphan):
        orphan.write_bytes(b"x")
    os.utime(old_orphan, (long_ago.timestamp(), long_ago.timestamp()))
    # an idle partial file of a live upload stays with its row
    os.utime(chunked_upload_partial_path(active), (long_ago.timestamp(), long_ago.timestamp()))

    out = io.StringIO()
    call_command("expire_chunked_uploads", stdout=out)
    assert "Deleted 1 abandoned upload" in out.getvalue()
    assert set(ChunkedUpload.objects.values_list("id", flat=True)) == {active.id, completed.id}
    assert not chunked_upload_partial_path(abandoned).exists() and not old_orphan.exists()
    assert chunked_upload_partial_path(active).exists() and new_orphan.exists()

    call_command("expire_chunked_uploads", stdout=out)  # idempotent
    assert ChunkedUpload.objects.count() == 2
    call_command("expire_chunked_uploads", "--older-than", "0", stdout=out)  # everything unfinished goes
    assert set(ChunkedUpload.objects.values_list("id", flat=True)) == {completed.id}


def _submit_whole(client, phase, path, django_capture_on_commit_callbacks, **extra):
    """Start, send in one chunk and complete: the submission's JSON."""
    data = path.read_bytes()
    state = _start(client, phase, path, **extra)
    assert _put(client, state["id"], data, 0, len(data)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(f"/api/v1/uploads/{state['id']}/complete/", {}, format="json")


def test_a_declared_sha256_of_a_file_sent_before_is_refused_before_any_byte(
    client_of, participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    client = client_of(participant)
    path = make_submission_file("npz", seed=11)
    first = _submit_whole(client, phase, path, django_capture_on_commit_callbacks)
    assert first.status_code == 201, first.content
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    response = client.post(
        "/api/v1/uploads/",
        {
            "phase": phase.id,
            "filename": path.name,
            "size": path.stat().st_size,
            "method_name": "again",
            "sha256": digest.upper(),
        },
        format="json",
    )
    assert response.status_code == 409, response.content
    assert response.json()["extra"]["submission"] == first.json()["id"]
    assert f"submission #{first.json()['id']}" in response.json()["detail"]
    assert ChunkedUpload.objects.count() == 1  # no upload opened for the refused file


def test_an_undeclared_file_sent_before_is_refused_at_completion(
    client_of, participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    client = client_of(participant)
    path = make_submission_file("npz", seed=12)
    first = _submit_whole(client, phase, path, django_capture_on_commit_callbacks).json()["id"]
    again = _submit_whole(client, phase, path, django_capture_on_commit_callbacks)
    assert again.status_code == 409 and again.json()["extra"]["submission"] == first
    assert Submission.objects.count() == 1


def test_a_declared_sha256_is_checked_at_completion(
    client_of, participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    client = client_of(participant)
    path = make_submission_file("npz", seed=13)
    refused = _submit_whole(client, phase, path, django_capture_on_commit_callbacks, sha256="0" * 64)
    assert refused.status_code == 400 and "sha256" in refused.json()["detail"]
    assert not Submission.objects.exists()
