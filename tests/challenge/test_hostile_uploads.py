"""Hostile files at the upload views: refused with a sentence (4xx), and within a memory bound of the
web process (docs/design.md, section 5)."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from evaluation.ground_truth import write_ground_truth
from tests.evaluation.test_io_bounds import csv_bomb

pytestmark = pytest.mark.django_db

MiB = 1024**2
PASSWD = Path("/etc/passwd")


def _post(client, phase, path: Path):
    with open(path, "rb") as handle:
        return client.post(
            "/api/v1/submissions/create/",
            {"phase": phase.id, "file": handle, "method_name": "CE"},
            format="multipart",
        )


def test_an_organisers_ground_truth_stored_in_etc_passwd_is_refused(
    api_client, organiser, challenge, tiny_truth, tmp_path
):
    from tests.factories import PhaseFactory

    phase = PhaseFactory(challenge=challenge, slug="test")
    path = tmp_path / "gt.h5"
    write_ground_truth(path, tiny_truth)
    queries = tiny_truth.datasets["MSVD"].num_queries
    width = max(1, os.path.getsize(PASSWD) // queries)
    with h5py.File(path, "r+") as handle:
        group = handle["MSVD"]
        if "query_text" in group:
            del group["query_text"]
        group.create_dataset(
            "query_text", shape=(queries,), dtype=f"S{width}", external=[(str(PASSWD), 0, width * queries)]
        )
    api_client.force_authenticate(organiser)
    with open(path, "rb") as handle:
        response = api_client.post(
            f"/api/v1/phases/{phase.id}/ground-truth/", {"file": handle}, format="multipart"
        )
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert "'/MSVD/query_text' stores its data outside the file" in detail and "expected" in detail
    assert "root:" not in detail and "/etc/passwd" not in detail
    phase.refresh_from_db()
    assert not phase.ground_truth


def test_an_npy_shape_that_overflows_is_refused_at_upload(api_client, participant, phase, tmp_path):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": (64, 2**62)}
    )
    path = tmp_path / "overflow.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("MSRVTT.npy", buffer.getvalue() + bytes(64))
    api_client.force_authenticate(participant)
    response = _post(api_client, phase, path)
    assert response.status_code == 400, response.content
    assert "a dimension above 2,147,483,648" in response.json()["detail"]


def test_a_soft_linked_h5_submission_is_refused_at_upload(
    api_client, participant, phase, tmp_path, tiny_truth
):
    truth = tiny_truth.datasets["MSRVTT"]
    path = tmp_path / "link.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("elsewhere", data=np.zeros((truth.num_queries, truth.num_videos), np.float32))
        handle.create_group("MSRVTT")["sims"] = h5py.SoftLink("/elsewhere")
    api_client.force_authenticate(participant)
    response = _post(api_client, phase, path)
    assert response.status_code == 400
    assert "is a soft or external link; expected data stored in the file itself" in response.json()["detail"]


def test_a_150_mib_csv_in_a_small_zip_is_refused_within_64_mib(api_client, participant, phase, tmp_path):
    path = csv_bomb(tmp_path / "bomb.zip", "MSRVTT")
    with zipfile.ZipFile(path) as archive:
        assert archive.infolist()[0].file_size >= 150 * MiB
    assert path.stat().st_size < 4 * MiB
    api_client.force_authenticate(participant)
    tracemalloc.start()
    try:
        response = _post(api_client, phase, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 400, response.content
    assert "has more than" in response.json()["detail"] and "one per query" in response.json()["detail"]
    assert peak < 64 * MiB, f"the upload grew the web process by {peak / MiB:.0f} MiB"


@pytest.mark.parametrize("swap", ["soft-link", "external-storage"])
def test_the_worker_refuses_an_h5_swapped_after_acceptance_without_naming_the_stored_file(
    participant, phase, make_submission_file, django_capture_on_commit_callbacks, tiny_truth, tmp_path, swap
):
    """The upload inspected an honest file; the worker reads the file as it is and applies the HDF5 rule
    again. Its message names the participant's file, never the stored file's generated name."""
    from challenge.models import Submission
    from challenge.services import submission_create

    honest = make_submission_file("h5", datasets=("MSRVTT",), name="mine.h5")
    with django_capture_on_commit_callbacks(execute=False) as callbacks, open(honest, "rb") as handle:
        submission = submission_create(user=participant, phase=phase, file=handle, method_name="CE")
    stored = Path(submission.file.path)
    truth = tiny_truth.datasets["MSRVTT"]
    shape = (truth.num_queries, truth.num_videos)
    hostile = tmp_path / "swap.h5"
    with h5py.File(hostile, "w") as handle:
        group = handle.create_group("MSRVTT")
        if swap == "soft-link":
            handle.create_dataset("elsewhere", data=np.ones(shape, np.float32))
            group["sims"] = h5py.SoftLink("/elsewhere")
        else:
            group.create_dataset(
                "sims", shape=shape, dtype="f4", external=[(str(PASSWD), 0, 4 * shape[0] * shape[1])]
            )
    os.replace(hostile, stored)
    # The digest check would refuse the swap first ("the stored file changed"); record the new file's
    # digest so that this test reaches the reader's own rule, the defence behind it.
    Submission.objects.filter(id=submission.id).update(
        checksum_sha256=hashlib.sha256(stored.read_bytes()).hexdigest()
    )
    for callback in callbacks:
        callback()
    submission = Submission.objects.get(id=submission.id)
    assert submission.status == Submission.Status.FAILED, submission.error_message
    message = submission.error_message
    assert "mine.h5" in message and stored.name not in message and str(stored.parent) not in message
    assert ("soft or external link" if swap == "soft-link" else "stores its data outside the file") in message
