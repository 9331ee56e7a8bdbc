"""score_submission(ranks_out=...): the per-query ranks kept for intervals, the report unchanged."""

import json

import numpy as np

from evaluation.metrics import metrics_from_ranks, retrieval_ranks
from evaluation.scoring import score_submission
from evaluation.synthetic import write_codalab_zip, write_npz_submission
from evaluation.uncertainty import pack_ranks, submission_intervals, unpack_ranks


def test_ranks_out_receives_the_ranks_behind_every_metric(tmp_path, tiny_truth, tiny_matrices):
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    plain = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.npz")
    kept: dict = {}
    report = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.npz", ranks_out=kept)
    assert report == plain
    json.dumps(report)
    assert list(kept) == list(tiny_truth.datasets)
    for name, truth in tiny_truth.datasets.items():
        ranks = kept[name]
        expected = retrieval_ranks(tiny_matrices[name], truth.query_video)
        assert ranks["t2v"].dtype == np.float32 and ranks["groups"].dtype == np.int32
        np.testing.assert_array_equal(ranks["t2v"], expected["t2v"])
        np.testing.assert_array_equal(ranks["v2t"], expected["v2t"])
        np.testing.assert_array_equal(ranks["groups"], truth.query_video)
        assert ranks["topk"] is None
        assert metrics_from_ranks(ranks["t2v"]) == report["datasets"][name]["t2v"]
        assert metrics_from_ranks(ranks["v2t"]) == report["datasets"][name]["v2t"]


def test_padded_layout_keeps_the_valid_rows_in_query_order(tmp_path, tiny_truth, tiny_matrices):
    truth = tiny_truth.datasets["MSVD"]
    padded = np.full((truth.padded_rows(), truth.num_videos), 1e6, np.float32)  # garbage in masked rows
    padded[truth.query_masks.reshape(-1)] = tiny_matrices["MSVD"]
    np.savez(tmp_path / "padded.npz", MSVD=padded)
    kept: dict = {}
    score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "padded.npz", ranks_out=kept)
    expected = retrieval_ranks(tiny_matrices["MSVD"], truth.query_video)["t2v"]
    np.testing.assert_array_equal(kept["MSVD"]["t2v"], expected)
    assert list(kept) == ["MSVD"]


def test_top_k_lists_keep_infinite_ranks_and_their_length(tmp_path, tiny_truth, tiny_matrices):
    write_codalab_zip(tmp_path / "c.zip", tiny_matrices, phase_slug="val", k=10)
    kept: dict = {}
    report = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "c.zip", ranks_out=kept)
    msrvtt = kept["MSRVTT"]
    assert msrvtt["topk"] == 10 and msrvtt["v2t"] is None
    assert np.isinf(msrvtt["t2v"]).any()  # 30 videos: some ground truths fall outside the 10 listed
    intervals = submission_intervals(unpack_ranks(pack_ranks(kept)), resamples=100)
    for name, result in report["datasets"].items():
        found = intervals["datasets"][name]["t2v"]
        for key, value in result["t2v"].items():
            assert (found[key] is None) == (value is None), (name, key)
            if value is not None:
                assert found[key]["estimate"] == value
    assert intervals["overall_score"]["estimate"] == report["overall_score"]


def _sets_truth(queries: int = 40, items: int = 30, *, graded: bool = True):
    """1 to 4 relevant clips per caption, graded, with distractor clips no caption asks for."""
    from evaluation.ground_truth import dataset_truth

    rng = np.random.default_rng(5)
    pairs = [
        (q, int(i)) for q in range(queries) for i in rng.choice(items - 3, rng.integers(1, 5), replace=False)
    ]
    query, item = np.array(pairs).T
    return dataset_truth(
        name="Clotho",
        videos=[f"clip{i}" for i in range(items)],
        query_ids=[f"cap{q}" for q in range(queries)],
        rel_query=query,
        rel_item=item,
        rel_grade=rng.choice([0.25, 0.5, 1.0], size=query.size) if graded else None,
    )


def _relevance_scored(truth, kind, arrays, metrics):
    from evaluation.scoring import score_dataset

    kept: dict = {}
    report = score_dataset(arrays, kind, truth, member="m", metrics=metrics, ranks_out=kept)
    return report, kept[truth.name]


def _assert_exact_means(report, kept):
    """Every reported relevance metric is 100 x the mean of its kept values, to the last bit, and stays
    so through the blob (its exact mean) and in the intervals' estimates."""
    back = unpack_ranks(pack_ranks({"D": kept}))["D"]
    intervals = submission_intervals({"D": kept}, resamples=20)["datasets"]["D"]
    for direction in ("t2v", "v2t"):
        values = kept.get(f"{direction}_values")
        if report[direction] is None:
            assert values is None
            continue
        assert values, f"no {direction} values kept"
        for key, per_query in values.items():
            assert per_query.shape == kept[direction].shape
            assert 100.0 * float(np.mean(per_query)) == report[direction][key]
            assert back[f"{direction}_means"][key] == report[direction][key]
            assert back[f"{direction}_values"][key].dtype == np.float64
            np.testing.assert_array_equal(back[f"{direction}_values"][key], per_query.astype(np.float32))
            assert intervals[direction][key]["estimate"] == report[direction][key]
    again = submission_intervals({"D": back}, resamples=20)["datasets"]["D"]
    assert again == intervals  # the float32 values are what is resampled, from memory or from the blob


def test_relevance_values_average_exactly_to_the_reported_metrics():
    truth = _sets_truth()
    rng = np.random.default_rng(1)
    sims = np.round(rng.standard_normal((truth.num_queries, truth.num_videos)), 1).astype(np.float32)  # ties
    keys = ["mAP", "mAP@10", "nDCG", "nDCG@10", "RPrec", "Recall@10", "mAP@16", "nDCG@5"]
    report, kept = _relevance_scored(truth, "similarity", {"sims": sims}, keys)
    assert set(kept["t2v_values"]) == set(keys) == set(kept["v2t_values"])
    _assert_exact_means(report, kept)


def test_top_k_lists_keep_the_values_of_the_metrics_they_hold():
    from evaluation.synthetic import topk_lists

    truth = _sets_truth()
    sims = np.random.default_rng(2).standard_normal((truth.num_queries, truth.num_videos)).astype(np.float32)
    report, kept = _relevance_scored(
        truth, "topk", {"topk": topk_lists(sims, 10)}, ["mAP@10", "nDCG@5", "mAP"]
    )
    assert set(kept["t2v_values"]) == {"mAP@10", "nDCG@5"} and report["t2v"]["mAP"] is None
    _assert_exact_means(report, kept)


def test_one_positive_datasets_keep_values_only_when_relevance_metrics_are_asked_for(
    tmp_path, tiny_truth, tiny_matrices
):
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    kept: dict = {}
    score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.npz", ranks_out=kept)
    for entry in kept.values():  # exactly the rank-only layout of before
        assert set(entry) == {"t2v", "v2t", "groups", "topk"}
    asked: dict = {}
    report = score_submission(
        ground_truth=tiny_truth,
        submission_path=tmp_path / "s.npz",
        ranks_out=asked,
        metrics=["mAP@10", "nDCG"],
    )
    for name, entry in asked.items():
        _assert_exact_means(report["datasets"][name], entry)
