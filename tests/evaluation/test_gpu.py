"""CPU and CUDA give the same ranks (runs where a GPU is present; the device tool lends one)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]

from evaluation.metrics import retrieval_ranks, t2v_metrics, v2t_metrics  # noqa: E402
from evaluation.scoring import score_submission  # noqa: E402
from evaluation.synthetic import (  # noqa: E402
    embedding_pairs,
    pentathlon_ground_truth,
    similarity_matrices,
    write_embeddings_npz,
    write_npz_submission,
)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_cuda_ranks_equal_cpu_ranks_with_ties_and_masks(dtype):
    rng = np.random.default_rng(0)
    videos, captions = 257, 9
    sims = (rng.integers(0, 40, size=(videos * captions, videos)) / 40).astype(dtype)
    masks = rng.random((videos, captions)) < 0.8
    masks[:, 0] = True
    query_video = np.repeat(np.arange(videos), captions)
    cpu = retrieval_ranks(sims, query_video, valid_rows=masks.reshape(-1))
    gpu = retrieval_ranks(torch.from_numpy(sims).cuda(), query_video, valid_rows=masks.reshape(-1))
    np.testing.assert_array_equal(cpu["t2v"], gpu["t2v"])
    np.testing.assert_array_equal(cpu["v2t"], gpu["v2t"])
    assert t2v_metrics(torch.from_numpy(sims).cuda(), masks) == t2v_metrics(sims, masks)
    assert v2t_metrics(torch.from_numpy(sims).cuda(), masks) == v2t_metrics(sims, masks)


def test_scoring_on_cuda_equals_cpu(tmp_path):
    truth = pentathlon_ground_truth(phase="val", scale="full")
    write_npz_submission(tmp_path / "s.npz", similarity_matrices(truth, noise=0.8))
    cpu = score_submission(ground_truth=truth, submission_path=tmp_path / "s.npz", device="cpu")
    gpu = score_submission(ground_truth=truth, submission_path=tmp_path / "s.npz", device="cuda")
    assert cpu["datasets"] == gpu["datasets"] and cpu["overall_score"] == gpu["overall_score"]


def test_embeddings_on_cuda_score_like_cpu(tmp_path):
    truth = pentathlon_ground_truth(phase="val", scale="tiny")
    write_embeddings_npz(tmp_path / "e.npz", embedding_pairs(truth, dim=32))
    cpu = score_submission(ground_truth=truth, submission_path=tmp_path / "e.npz", device="cpu")
    gpu = score_submission(ground_truth=truth, submission_path=tmp_path / "e.npz", device="cuda")
    for name in truth.datasets:
        for key in ("R1", "R5", "R10"):
            assert cpu["datasets"][name]["t2v"][key] == pytest.approx(
                gpu["datasets"][name]["t2v"][key], abs=1e-9
            )
