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
    with pytest.raises(ValueError, match="positive"):
        rank_histogram(np.zeros(3), num_videos=0)


@pytest.mark.parametrize("num_videos", [1, 2, 7, 10, 11, 670, 1000, 1001, 4917])
def test_the_bins_end_at_the_number_of_videos(num_videos):
    ranks = np.random.default_rng(num_videos).integers(0, num_videos, size=3000).astype(np.float64)
    ranks[:3] = num_videos - 1  # the worst rank possible
    ranks[3:5] = (num_videos - 1) / 2  # every video tied
    hist = rank_histogram(ranks, num_videos=num_videos)
    assert sum(hist["counts"]) == ranks.size and len(hist["labels"]) == len(hist["counts"])
    last = hist["labels"][-1]
    assert last.split("-")[-1] == str(num_videos) and not any(">" in label for label in hist["labels"])
    assert hist["counts"][-1] >= 3 and "beyond_topk" not in hist
    uppers = [int(label.split("-")[-1]) for label in hist["labels"]]
    assert uppers == sorted(uppers) and max(uppers) == num_videos


def test_msvd_has_no_bin_past_its_670_videos():
    hist = rank_histogram(np.array([0.0, 669.0, 500.0, 499.5]), num_videos=670)
    assert hist["labels"][-2:] == ["201-500", "501-670"] and hist["counts"][-2:] == [1, 2]


def test_top_k_misses_go_to_a_beyond_top_k_bar_not_a_rank_bar():
    ranks = np.array([0.0, 1.0, 4.0, 9.0, np.inf, np.inf, np.inf])
    hist = rank_histogram(ranks, num_videos=670, topk=10)
    assert hist == {
        "labels": ["1", "2", "3-5", "6-10", "beyond top-10"],
        "counts": [1, 1, 1, 1, 3],
        "beyond_topk": 10,
    }
    # k between two edges: the last rank bin ends at k
    assert rank_histogram(ranks, num_videos=670, topk=30)["labels"][-2:] == ["21-30", "beyond top-30"]
    # a list longer than the gallery: the rank bins still end at the number of videos
    assert rank_histogram(ranks, num_videos=8, topk=10)["labels"][-2:] == ["6-8", "beyond top-10"]


def test_the_report_carries_a_t2v_histogram_per_dataset(tmp_path, tiny_truth, tiny_matrices):
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    report = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.npz")
    for name, entry in report["datasets"].items():
        assert sum(entry["rank_histogram"]["counts"]) == tiny_truth.datasets[name].num_queries
    write_codalab_zip(tmp_path / "s.zip", tiny_matrices, phase_slug="val")
    topk = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.zip")
    for name, entry in report["datasets"].items():
        truth = tiny_truth.datasets[name]
        assert entry["rank_histogram"]["labels"][-1].endswith(f"-{truth.num_videos}")
    for entry in topk["datasets"].values():
        hist = entry["rank_histogram"]
        assert entry["v2t"] is None and sum(hist["counts"]) == entry["num_queries"]
        assert hist["labels"][-1] == f"beyond top-{hist['beyond_topk']}"
        assert all(">" not in label for label in hist["labels"])
