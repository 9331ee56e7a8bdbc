"""Scoring datasets with sets of relevant items and names of the challenge's own, server and offline CLI."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from evaluation.errors import EvaluationError, SubmissionFormatError
from evaluation.ground_truth import GroundTruth, dataset_truth, write_ground_truth
from evaluation.metrics.relevance import relevance_metrics
from evaluation.scoring import DEFAULT_RELEVANCE_METRICS, score_submission
from evaluation.synthetic import write_npz_submission


def audio_truth(seed=0):
    """Two audio datasets, text to audio: 1 to 5 relevant clips per caption, graded, and distractors."""
    rng = np.random.default_rng(seed)
    datasets = {}
    for name, (queries, items) in {"Clotho": (30, 40), "AudioCaps": (25, 30)}.items():
        pairs = [
            (q, int(i))
            for q in range(queries)
            for i in rng.choice(items - 3, rng.integers(1, 6), replace=False)
        ]
        query, item = np.array(pairs).T
        datasets[name] = dataset_truth(
            name=name,
            videos=[f"{name}-clip{i}" for i in range(items)],
            query_ids=[f"{name}-cap{q}" for q in range(queries)],
            rel_query=query,
            rel_item=item,
            rel_grade=rng.choice([0.5, 1.0], size=query.size),
        )
    return GroundTruth("Audio retrieval", "val", datasets)


def matrices(truth, seed=1):
    rng = np.random.default_rng(seed)
    out = {}
    for name, d in truth.datasets.items():
        sims = rng.standard_normal((d.num_queries, d.num_videos)).astype(np.float32)
        query, item, grade = d.relevance.triples()
        sims[query, item] += 2.0 * grade.astype(np.float32)
        out[name] = sims
    return out


def test_sets_report_the_rank_and_relevance_metrics_in_both_directions(tmp_path):
    truth = audio_truth()
    sims = matrices(truth)
    write_npz_submission(tmp_path / "s.npz", sims)
    report = score_submission(ground_truth=truth, submission_path=tmp_path / "s.npz")
    clotho = report["datasets"]["Clotho"]
    assert clotho["format"] == "similarity" and clotho["num_videos"] == 40
    want = relevance_metrics(
        sims["Clotho"], truth.datasets["Clotho"].relevance, metrics=DEFAULT_RELEVANCE_METRICS
    )
    assert clotho["t2v"] == want["t2v"] and clotho["v2t"] == want["v2t"]
    assert clotho["score"] == clotho["t2v"]["geometric_mean_R1-R5-R10"]
    assert sum(clotho["rank_histogram"]["counts"]) == 30
    assert report["overall_score"] == pytest.approx(
        (clotho["score"] + report["datasets"]["AudioCaps"]["score"]) / 2
    )


def test_declared_cut_offs_and_unknown_metrics(tmp_path):
    truth = audio_truth()
    write_npz_submission(tmp_path / "s.npz", matrices(truth))
    report = score_submission(
        ground_truth=truth, submission_path=tmp_path / "s.npz", metrics=["mAP@16", "nDCG@5"]
    )
    assert set(report["datasets"]["Clotho"]["t2v"]) - {"R1", "R5", "R10", "R50", "MedR", "MeanR"} == {
        "geometric_mean_R1-R5-R10",
        "mAP@16",
        "nDCG@5",
    }
    with pytest.raises(EvaluationError, match="unknown metric 'MAP@10'"):
        score_submission(ground_truth=truth, submission_path=tmp_path / "s.npz", metrics=["MAP@10"])


def test_one_relevant_video_per_query_reports_exactly_as_before_unless_asked(
    tmp_path, tiny_truth, tiny_matrices
):
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    plain = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.npz")
    asked = score_submission(
        ground_truth=tiny_truth, submission_path=tmp_path / "s.npz", metrics=["mAP", "nDCG@10"]
    )
    for name, result in plain["datasets"].items():
        assert set(result["t2v"]) == {"R1", "R5", "R10", "R50", "MedR", "MeanR", "geometric_mean_R1-R5-R10"}
        for direction in ("t2v", "v2t"):
            extra = asked["datasets"][name][direction]
            assert {k: extra[k] for k in result[direction]} == result[direction]  # the very same floats
            assert 0 < extra["mAP"] <= 100 and 0 < extra["nDCG@10"] <= 100


def test_top_k_lists_on_sets(tmp_path):
    truth = audio_truth()
    d = truth.datasets["AudioCaps"]
    topk = np.argsort(-matrices(truth)["AudioCaps"], axis=1)[:, :10]
    lines = "\n".join(",".join(map(str, row)) for row in topk)
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as archive:
        archive.writestr("AudioCaps-val-predictions.csv", lines + "\n")
    report = score_submission(ground_truth=truth, submission_path=tmp_path / "s.zip")
    t2v = report["datasets"]["AudioCaps"]["t2v"]
    assert t2v["MedR"] is None and t2v["mAP"] is None and t2v["RPrec"] is None
    full = relevance_metrics(
        matrices(truth)["AudioCaps"], d.relevance, metrics=["mAP@10", "nDCG@10", "Recall@10"]
    )
    for key in ("R1", "R5", "R10", "mAP@10", "nDCG@10", "Recall@10"):
        assert t2v[key] == pytest.approx(full["t2v"][key], abs=1e-9), key
    assert report["datasets"]["AudioCaps"]["v2t"] is None


def test_submissions_name_the_challenges_datasets(tmp_path):
    truth = audio_truth()
    np.savez(tmp_path / "s.npz", clotho=matrices(truth)["Clotho"])  # case-insensitive
    assert list(score_submission(ground_truth=truth, submission_path=tmp_path / "s.npz")["datasets"]) == [
        "Clotho"
    ]
    np.savez(tmp_path / "bad.npz", MSRVTT=matrices(truth)["Clotho"])
    with pytest.raises(
        SubmissionFormatError, match="unknown dataset name 'MSRVTT'; expected one of Clotho, AudioCaps"
    ):
        score_submission(ground_truth=truth, submission_path=tmp_path / "bad.npz")


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "evaluation", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_offline_cli_scores_a_ground_truth_whose_names_are_not_pentathlons(tmp_path):
    truth = audio_truth()
    write_ground_truth(tmp_path / "gt.h5", truth)
    sims = matrices(truth)
    with h5py_submission(tmp_path / "s.h5") as handle:
        for name, matrix in sims.items():
            handle.create_group(name.lower()).create_dataset("sims", data=matrix)
    done = run_cli("score", "--ground-truth", tmp_path / "gt.h5", "--submission", tmp_path / "s.h5", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["missing_datasets"] == [] and set(report["datasets"]) == {"Clotho", "AudioCaps"}
    direct = score_submission(ground_truth=truth, submission_path=tmp_path / "s.h5")
    assert report["datasets"] == json.loads(json.dumps(direct["datasets"]))
    table = run_cli(
        "score",
        "--ground-truth",
        tmp_path / "gt.h5",
        "--submission",
        tmp_path / "s.h5",
        "--metrics",
        "mAP@10,nDCG@5",
    )
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[1]
    assert "mAP@10" in header and "nDCG@5" in header and "RPrec" not in header
    assert any(line.startswith("Clotho ") and " v2t " in line for line in table.stdout.splitlines())
    bad = run_cli(
        "score", "--ground-truth", tmp_path / "gt.h5", "--submission", tmp_path / "s.h5", "--metrics", "AP"
    )
    assert bad.returncode == 3 and "unknown metric 'AP'" in bad.stderr


def h5py_submission(path):
    import h5py

    return h5py.File(path, "w")
