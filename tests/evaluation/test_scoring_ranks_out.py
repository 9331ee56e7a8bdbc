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
