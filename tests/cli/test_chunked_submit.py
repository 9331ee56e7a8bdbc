"""`pentathlon submit` of a big file: the resumable chunked upload, interrupted and resumed."""

from __future__ import annotations

import pytest

from challenge.models import ChunkedUpload, Submission

pytestmark = pytest.mark.django_db(transaction=True)


class Interrupted(Exception):
    pass


def test_submit_resumes_an_interrupted_chunked_upload(
    run_cli, logged_in, phase, make_submission_file, settings, cli_home
):
    from cli import config
    from cli.client import ApiClient

    settings.UPLOAD_CHUNK_BYTES = 4096
    path = make_submission_file("npz")
    size = path.stat().st_size
    client = ApiClient(logged_in, config.resolve_token(logged_in))
    fields = {
        "phase": str(phase.id),
        "method_name": "resumed",
        "description": "",
        "paper_url": "",
        "code_url": "",
        "is_public": "true",
    }

    def die_after_two_chunks(sent: int) -> None:
        if sent >= 2 * 4096:
            raise Interrupted

    with pytest.raises(Interrupted):
        client.upload_chunked(
            fields,
            file_path=path,
            state_path=config.config_dir() / "uploads.json",
            progress=die_after_two_chunks,
        )
    partial = ChunkedUpload.objects.get()
    assert partial.received == 2 * 4096 < size
    result = run_cli("submit", phase.id, path, "-m", "resumed", "--chunked-above", "1", "--interval", "0.05")
    assert result.code == 0, result.err
    assert ChunkedUpload.objects.count() == 1  # resumed, not restarted
    submission = Submission.objects.get()
    assert submission.status == Submission.Status.FINISHED and submission.file_size == size
    assert ChunkedUpload.objects.get().submission_id == submission.id
