"""Regressions for what the security suites found: each was a server error or an untyped exception."""

from __future__ import annotations

import zipfile

import pytest
from django.test import Client

from evaluation.errors import GroundTruthError, SubmissionFormatError


def _insert(data: bytes, at: int, chunk: bytes) -> bytes:
    return data[:at] + chunk + data[at:]


def test_damaged_ground_truth_metadata_is_a_ground_truth_error(tmp_path, tiny_truth_path):
    """h5py raised KeyError('address of object past end of allocation') out of read_ground_truth."""
    from evaluation.ground_truth import read_ground_truth

    path = tmp_path / "gt.h5"
    path.write_bytes(_insert(tiny_truth_path.read_bytes(), 52, b"\x00\x00\x00\x00"))
    with pytest.raises(GroundTruthError, match="expected an intact ground-truth file"):
        read_ground_truth(path)


def test_damaged_h5_submission_metadata_is_a_format_error(tmp_path, tiny_truth, make_submission_file):
    """h5py raised RuntimeError('Unable to get group info ...') out of inspect_submission."""
    from evaluation.scoring import score_submission

    path = tmp_path / "damaged.h5"
    path.write_bytes(_insert(make_submission_file("h5").read_bytes(), 52, b"\x00\x00\x00\x00"))
    with pytest.raises(SubmissionFormatError, match="expected an intact .h5 file"):
        score_submission(ground_truth=tiny_truth, submission_path=path)


def test_csv_member_with_an_unknown_compression_method_is_a_format_error(
    tmp_path, tiny_truth, make_submission_file
):
    """zipfile raised NotImplementedError out of load_entry (CSV members are opened only there)."""
    from evaluation.scoring import score_submission

    raw = bytearray(make_submission_file("codalab").read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = raw.find(signature)
        while at != -1:
            raw[at + offset : at + offset + 2] = (77).to_bytes(2, "little")
            at = raw.find(signature, at + 1)
    path = tmp_path / "compression.zip"
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as archive:
        assert archive.infolist()[0].compress_type == 77
    with pytest.raises(SubmissionFormatError, match="expected an intact"):
        score_submission(ground_truth=tiny_truth, submission_path=path)


def test_csv_index_beyond_int64_is_a_format_error():
    """np.array([...], dtype=int64) raised OverflowError out of parse_topk_csv."""
    from evaluation.io import parse_topk_csv

    with pytest.raises(SubmissionFormatError, match="expected 0-based video indices"):
        parse_topk_csv(b"1,2,3\n" + str(2**70).encode() + b",1,2\n")


@pytest.mark.django_db
def test_changing_a_submission_whose_uploader_deleted_their_account(upload, participant):
    """full_clean() refused the NULL created_by: POST /submissions/<id>/change/ was a 500."""
    submission = upload("npz")
    from challenge.models import Submission

    Submission.objects.filter(id=submission.id).update(created_by=None)
    client = Client(raise_request_exception=False)
    client.force_login(participant)
    response = client.post(f"/submissions/{submission.id}/change/", {"is_public": "0"})
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.is_public is False


@pytest.mark.django_db
def test_results_cannot_be_added_in_the_admin(organiser):
    """The add form had only read-only fields: saving it was an IntegrityError (500)."""
    client = Client(raise_request_exception=False)
    client.force_login(organiser)
    assert client.get("/admin/leaderboard/result/add/").status_code == 403
    assert client.post("/admin/leaderboard/result/add/", {}).status_code == 403
