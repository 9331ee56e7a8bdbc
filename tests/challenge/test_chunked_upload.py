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


# --- sealed files: nothing written after completion reaches the accepted file ----------------------


class _HeldBody:
    """A request body (wsgi.input) that sends its first `split` bytes, says so, then waits for `release`
    before sending the rest: a chunk still streaming while something else happens."""

    def __init__(self, data: bytes, split: int) -> None:
        import threading

        self.data, self.split, self.pos = data, split, 0
        self.arrived, self.release = threading.Event(), threading.Event()

    def read(self, size: int = -1) -> bytes:
        if self.pos >= self.split and not self.release.is_set():
            self.arrived.set()
            assert self.release.wait(30), "the test never released the held body"
        end = len(self.data) if size is None or size < 0 else self.pos + size
        if self.pos < self.split:
            end = min(end, self.split)
        block = self.data[self.pos : end]
        self.pos += len(block)
        return block

    def readline(self, size: int = -1) -> bytes:  # Django's LimitedStream asks for it; raw bytes
        return self.read(size)


def _wsgi(method: str, path: str, *, token: str, body, length: int, content_type: str, **headers):
    """One real request through the site's WSGI handler (middleware, auth, view), in this thread."""
    import io

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(length),
        "wsgi.input": body,
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **headers,
    }
    status = []
    try:
        chunks = WSGIHandler()(environ, lambda s, h, *a: status.append(int(s.split()[0])))
        content = b"".join(chunks)
    finally:
        connection.close()
    return status[0], content


def _in_thread(target):
    import threading

    out: dict = {}

    def run():
        try:
            out["value"] = target()
        except BaseException as exc:  # surfaced by the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_chunk_streaming_at_completion_cannot_change_the_accepted_file(
    client_of, participant, phase, make_submission_file, settings
):
    """A re-sent chunk carrying other bytes is still streaming when the upload is completed: completion
    waits for it, and the stored file is exactly the one whose sha256 was recorded."""
    import io
    import json

    from rest_framework.authtoken.models import Token

    token = Token.objects.get_or_create(user=participant)[0].key
    client = client_of(participant)
    path = make_submission_file("npz", seed=21)
    data = path.read_bytes()
    state = _start(client, phase, path)
    assert _put(client, state["id"], data, 0, len(data)).status_code == 200
    changed = bytearray(data)
    changed[len(data) // 2] ^= 0x01  # array data: the file stays well formed
    held = _HeldBody(bytes(changed), split=len(data) // 4)
    writer, written = _in_thread(
        lambda: _wsgi(
            "PUT",
            f"/api/v1/uploads/{state['id']}/",
            token=token,
            body=held,
            length=len(data),
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes 0-{len(data) - 1}/{len(data)}",
        )
    )
    assert held.arrived.wait(30), written
    body = json.dumps({}).encode()
    completer, completed = _in_thread(
        lambda: _wsgi(
            "POST",
            f"/api/v1/uploads/{state['id']}/complete/",
            token=token,
            body=io.BytesIO(body),
            length=len(body),
            content_type="application/json",
        )
    )
    completer.join(1.5)  # completion is waiting for the chunk in flight (the old code did not wait)
    held.release.set()
    writer.join(30)
    completer.join(30)
    assert "error" not in written and "error" not in completed, (written, completed)
    assert written["value"][0] == 200, written["value"]
    status, content = completed["value"]
    assert status == 201, content
    submission = Submission.objects.get(id=json.loads(content)["id"])
    stored = submission.file.storage.path(submission.file.name)
    with open(stored, "rb") as handle:
        on_disk = handle.read()
    assert hashlib.sha256(on_disk).hexdigest() == submission.checksum_sha256
    assert on_disk == bytes(changed)  # the chunk that was in flight finished before the file was taken

    # a chunk sent after completion is refused with a sentence, and changes nothing
    late = _put(client, state["id"], data, 0, len(data))
    assert late.status_code == 409 and "completed" in late.json()["detail"]
    with open(stored, "rb") as handle:
        assert handle.read() == on_disk


def test_a_chunk_waiting_for_completion_finds_the_upload_sealed(participant, phase, make_submission_file):
    """A chunk write that reached the file while completion held it re-checks the upload under the
    lock: it finds the upload complete, writes nothing and says so (409)."""
    import fcntl
    import io

    from challenge.exceptions import UploadStateError
    from challenge.services import UPLOAD_CLOSED, chunked_upload_create, chunked_upload_write
    from challenge.services.uploads import chunked_upload_partial_path

    data = make_submission_file("npz", seed=22).read_bytes()
    upload = chunked_upload_create(
        user=participant, phase=phase, filename="x.npz", size=len(data), metadata={"method_name": "m"}
    )
    chunked_upload_write(upload=upload, user=participant, start=0, stream=io.BytesIO(data), length=len(data))
    partial = chunked_upload_partial_path(upload)
    with open(partial, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # what completion holds while it takes the file
        stale = ChunkedUpload.objects.get(id=upload.id)  # the row as the request read it: still open

        def rewrite():
            from django.db import connection

            try:
                return chunked_upload_write(
                    upload=stale, user=participant, start=0, stream=io.BytesIO(b"\0" * 64), length=64
                )
            finally:
                connection.close()

        writer, out = _in_thread(rewrite)
        writer.join(0.5)
        assert writer.is_alive()  # waiting for the lock, nothing written
        ChunkedUpload.objects.filter(id=upload.id).update(status=ChunkedUpload.Status.COMPLETE)
    writer.join(30)
    assert isinstance(out.get("error"), UploadStateError) and out["error"].message == UPLOAD_CLOSED
    assert partial.read_bytes() == data


def test_completion_waits_a_bounded_time_for_a_stalled_chunk(
    client_of, participant, phase, make_submission_file, settings
):
    """A chunk that stalls longer than PENTATHLON_UPLOAD_COMPLETE_WAIT: completion answers 409 with a
    sentence and the upload stays open; once the chunk is answered, completing works."""
    from rest_framework.authtoken.models import Token

    from challenge.services import UPLOAD_CHUNK_IN_FLIGHT

    settings.PENTATHLON_UPLOAD_COMPLETE_WAIT = 0.3
    token = Token.objects.get_or_create(user=participant)[0].key
    client = client_of(participant)
    path = make_submission_file("npz", seed=23)
    data = path.read_bytes()
    state = _start(client, phase, path)
    assert _put(client, state["id"], data, 0, len(data)).status_code == 200
    held = _HeldBody(data, split=len(data) // 3)
    writer, written = _in_thread(
        lambda: _wsgi(
            "PUT",
            f"/api/v1/uploads/{state['id']}/",
            token=token,
            body=held,
            length=len(data),
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes 0-{len(data) - 1}/{len(data)}",
        )
    )
    assert held.arrived.wait(30)
    busy = client.post(f"/api/v1/uploads/{state['id']}/complete/", {}, format="json")
    assert busy.status_code == 409 and busy.json()["detail"] == UPLOAD_CHUNK_IN_FLIGHT
    assert ChunkedUpload.objects.get(id=state["id"]).status == ChunkedUpload.Status.UPLOADING
    held.release.set()
    writer.join(30)
    assert written["value"][0] == 200
    done = client.post(f"/api/v1/uploads/{state['id']}/complete/", {}, format="json")
    assert done.status_code == 201, done.content
