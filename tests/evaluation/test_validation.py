"""Shape checks of `evaluation.validation`: a transposed matrix and swapped embeddings are named so."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.errors import SubmissionFormatError
from evaluation.io import inspect_submission
from evaluation.scoring import score_submission
from evaluation.validation import check_manifest, shapes_from_truth


def _check(tiny_truth, path):
    check_manifest(inspect_submission(path), shapes_from_truth(tiny_truth))


def test_a_transposed_matrix_is_called_transposed(tmp_path, tiny_truth):
    truth = tiny_truth.datasets["MSRVTT"]
    assert truth.num_queries != truth.num_videos
    sims = np.zeros((truth.num_queries, truth.num_videos), np.float32)
    np.savez(tmp_path / "t.npz", MSRVTT=sims.T)
    q, v = truth.num_queries, truth.num_videos
    expected = (
        f"similarity matrix is transposed: it has shape ({v}, {q}), which is (videos x queries); "
        f"expected (queries x videos), ({q}, {v})"
    )
    with pytest.raises(SubmissionFormatError, match=r"transpose it") as refused:
        _check(tiny_truth, tmp_path / "t.npz")
    assert expected in str(refused.value) and "MSRVTT" in str(refused.value)
    # the scorer says the same (one check for the server, the worker and the offline validator)
    with pytest.raises(SubmissionFormatError, match="is transposed"):
        score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "t.npz")


def test_a_matrix_of_another_wrong_shape_is_not_called_transposed(tmp_path, tiny_truth):
    truth = tiny_truth.datasets["MSRVTT"]
    np.savez(tmp_path / "w.npz", MSRVTT=np.zeros((truth.num_videos, truth.num_videos), np.float32))
    with pytest.raises(SubmissionFormatError, match="similarity matrix has shape") as refused:
        _check(tiny_truth, tmp_path / "w.npz")
    assert "transpos" not in str(refused.value)


def test_the_right_shape_passes(tmp_path, tiny_truth):
    truth = tiny_truth.datasets["MSRVTT"]
    np.savez(tmp_path / "ok.npz", MSRVTT=np.zeros((truth.num_queries, truth.num_videos), np.float32))
    _check(tiny_truth, tmp_path / "ok.npz")


def test_swapped_embeddings_are_called_swapped(tmp_path, tiny_truth):
    truth = tiny_truth.datasets["MSRVTT"]
    np.savez(
        tmp_path / "e.npz",
        MSRVTT_text=np.ones((truth.num_videos, 8), np.float32),
        MSRVTT_video=np.ones((truth.num_queries, 8), np.float32),
    )
    with pytest.raises(SubmissionFormatError, match="embeddings are swapped.*swap them"):
        _check(tiny_truth, tmp_path / "e.npz")
