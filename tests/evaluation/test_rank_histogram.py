import numpy as np
import pytest

from evaluation.metrics import rank_histogram
from evaluation.scoring import score_submission
from evaluation.synthetic import write_codalab_zip, write_npz_submission


def test_bins_cover_every_rank_once_and_match_recall():
    ranks = np.random.default_rng(0).integers(0, 3000, size=5000).astype(np.float64)
    ranks[:7] = np.inf
    hist = rank_histogram(ranks)
    assert sum(hist["counts"]) == ranks.size and len(hist["labels"]) == len(hist["counts"]) == 11
    assert hist["counts"][0] == int((ranks == 0).sum())
    assert sum(hist["counts"][:4]) == int((ranks < 10).sum())
    assert hist["counts"][-1] == int((ranks >= 1000).sum())


def test_bad_edges_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        rank_histogram(np.zeros(3), edges=(5, 2))


def test_the_report_carries_a_t2v_histogram_per_dataset(tmp_path, tiny_truth, tiny_matrices):
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    report = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.npz")
    for name, entry in report["datasets"].items():
        assert sum(entry["rank_histogram"]["counts"]) == tiny_truth.datasets[name].num_queries
    write_codalab_zip(tmp_path / "s.zip", tiny_matrices, phase_slug="val")
    topk = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.zip")
    entry = next(iter(topk["datasets"].values()))
    assert entry["v2t"] is None and sum(entry["rank_histogram"]["counts"]) == entry["num_queries"]
