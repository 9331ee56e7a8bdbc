import json
import subprocess
import sys

import numpy as np
import pytest

from evaluation import SCORER_VERSION
from evaluation.ground_truth import GroundTruth, write_ground_truth
from evaluation.metrics import compact_metrics
from evaluation.scoring import overall_score, score_submission
from evaluation.synthetic import (
    embedding_pairs,
    pentathlon_ground_truth,
    similarity_matrices,
    write_codalab_zip,
    write_embeddings_npz,
    write_h5_submission,
    write_npz_submission,
)


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "evaluation", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_report_shape_and_overall_mean(tmp_path, tiny_truth, tiny_matrices):
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    report = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.npz")
    assert report["scorer_version"] == SCORER_VERSION
    assert list(report["datasets"]) == ["MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"]
    scores = [r["score"] for r in report["datasets"].values()]
    assert report["overall_score"] == pytest.approx(sum(scores) / 5)
    msvd = report["datasets"]["MSVD"]
    assert (msvd["num_queries"], msvd["num_videos"], msvd["format"]) == (97, 20, "similarity")
    assert msvd["score"] == msvd["t2v"]["geometric_mean_R1-R5-R10"]
    expected = compact_metrics(tiny_matrices["MSVD"], tiny_truth.datasets["MSVD"].query_video)
    assert msvd["t2v"] == expected["t2v"] and msvd["v2t"] == expected["v2t"]


def test_sum_aggregation_and_missing_dataset(tmp_path, tiny_truth, tiny_matrices):
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    summed = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.npz", aggregation="sum")
    assert summed["overall_score"] == pytest.approx(sum(r["score"] for r in summed["datasets"].values()))
    del tiny_matrices["YouCook2"]
    write_npz_submission(tmp_path / "p.npz", tiny_matrices)
    partial = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "p.npz")
    assert partial["overall_score"] is None
    assert partial["missing_datasets"] == ["YouCook2"]
    assert set(partial["datasets"]) == {"MSRVTT", "MSVD", "DiDeMo", "ActivityNet"}


def test_padded_layout_scores_like_compact(tmp_path, tiny_truth, tiny_matrices):
    truth = tiny_truth.datasets["MSVD"]
    padded = np.full((truth.padded_rows(), truth.num_videos), 1e6, np.float32)  # garbage in masked rows
    padded[truth.query_masks.reshape(-1)] = tiny_matrices["MSVD"]
    np.savez(tmp_path / "padded.npz", MSVD=padded)
    np.savez(tmp_path / "compact.npz", MSVD=tiny_matrices["MSVD"])
    a = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "padded.npz")["datasets"]["MSVD"]
    b = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "compact.npz")["datasets"][
        "MSVD"
    ]
    assert a["t2v"] == b["t2v"] and a["v2t"] == b["v2t"]


def test_shuffled_phase_scores_like_canonical_order(tmp_path):
    canonical = pentathlon_ground_truth(phase="test", scale="tiny", seed=4)
    shuffled = pentathlon_ground_truth(phase="test", scale="tiny", seed=4, shuffled=True)
    matrices = similarity_matrices(canonical, noise=0.7)
    # The shuffled release lists the same queries in another order: reorder rows to match it.
    reordered = {}
    for name, sims in matrices.items():
        c, s = canonical.datasets[name], shuffled.datasets[name]
        assert s.query_masks is None and not set(s.query_ids) & set(c.query_ids)
        order = _shuffle_order(c, s)
        reordered[name] = sims[order]
    write_npz_submission(tmp_path / "c.npz", matrices)
    write_npz_submission(tmp_path / "s.npz", reordered)
    a = score_submission(ground_truth=canonical, submission_path=tmp_path / "c.npz")
    b = score_submission(ground_truth=shuffled, submission_path=tmp_path / "s.npz")
    assert a["datasets"] == b["datasets"]


def _shuffle_order(canonical, shuffled):
    # Same generator and seed: the shuffled truth is the canonical one under a row permutation.
    rng = np.random.default_rng(
        [4, ["MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"].index(canonical.name)]
    )
    from evaluation.synthetic import _caption_counts, split_sizes

    _caption_counts(split_sizes("test", "tiny")[canonical.name], rng)
    order = rng.permutation(canonical.num_queries)
    np.testing.assert_array_equal(canonical.query_video[order], shuffled.query_video)
    return order


def test_embeddings_are_scored_as_their_product(tmp_path, tiny_truth):
    pairs = embedding_pairs(tiny_truth, dim=16, noise=2.0)
    write_embeddings_npz(tmp_path / "e.npz", pairs)
    report = score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "e.npz")
    text, video = pairs["MSRVTT"]
    expected = compact_metrics(text @ video.T, tiny_truth.datasets["MSRVTT"].query_video)
    assert report["datasets"]["MSRVTT"]["format"] == "embeddings"
    assert report["datasets"]["MSRVTT"]["t2v"] == expected["t2v"]


def test_embeddings_score_the_same_in_any_published_order(tmp_path):
    """Identical captions keep their tie in every order: a BLAS product alone differs in the last bit
    with a row's place in its tiles, which gave one program two scores on two phases."""
    canonical = pentathlon_ground_truth(phase="test", scale="tiny", seed=4)
    shuffled = pentathlon_ground_truth(phase="test", scale="tiny", seed=4, shuffled=True)
    rng = np.random.default_rng(7)
    pairs, reordered = {}, {}
    for name, truth in canonical.datasets.items():
        captions = rng.standard_normal((max(truth.num_queries // 3, 1), 300)).astype(np.float32)
        text = captions[rng.integers(0, len(captions), truth.num_queries)]  # many repeated captions
        video = rng.standard_normal((truth.num_videos, 300)).astype(np.float32)
        pairs[name] = (text, video)
        reordered[name] = (text[_shuffle_order(truth, shuffled.datasets[name])], video)
    write_embeddings_npz(tmp_path / "c.npz", pairs)
    write_embeddings_npz(tmp_path / "s.npz", reordered)
    a = score_submission(ground_truth=canonical, submission_path=tmp_path / "c.npz")
    b = score_submission(ground_truth=shuffled, submission_path=tmp_path / "s.npz")
    assert a["datasets"] == b["datasets"]


def test_embedding_similarities_do_not_depend_on_row_or_column_order():
    from evaluation.scoring import _similarities_from_embeddings

    rng = np.random.default_rng(3)
    for _ in range(30):
        queries, videos = int(rng.integers(10, 120)), int(rng.integers(5, 60))
        dim = int(rng.choice([64, 100, 300, 512]))
        text = rng.standard_normal((queries, dim)).astype(np.float32)
        text[1::4] = text[0]
        video = rng.standard_normal((videos, dim)).astype(np.float16)
        rows, cols = rng.permutation(queries), rng.permutation(videos)
        sims = _similarities_from_embeddings(text, video, "cpu")
        moved = _similarities_from_embeddings(text[rows], video[cols], "cpu")
        np.testing.assert_array_equal(moved, sims[rows][:, cols])
        assert sims.dtype == np.float32 and (sims[1::4] == sims[0]).all()
        np.testing.assert_allclose(sims, text @ video.astype(np.float32).T, rtol=1e-5, atol=1e-4)


def test_progress_is_reported_per_dataset(tmp_path, tiny_truth, tiny_matrices):
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    seen = []
    score_submission(
        ground_truth=tiny_truth,
        submission_path=tmp_path / "s.npz",
        progress=lambda stage, dataset, fraction: seen.append((stage, dataset, fraction)),
    )
    assert seen[0] == ("validating", None, 0.0) and seen[-1] == ("done", None, 1.0)
    assert {d for stage, d, f in seen if stage == "scoring" and f == 1.0} == set(tiny_truth.datasets)


def test_overall_score_rejects_unknown_aggregation():
    with pytest.raises(ValueError, match="unknown aggregation"):
        overall_score({"A": 1.0}, ["A"], "median")


def test_cli_codalab_zip_matches_full_matrices(tmp_path):
    """The acceptance case: top-10 CSVs give the R@1/5/10 of the full matrices they were cut from."""
    truth = pentathlon_ground_truth(phase="val", scale="tiny", seed=1)
    write_ground_truth(tmp_path / "gt.h5", truth)
    matrices = similarity_matrices(truth, seed=1, noise=0.6)  # continuous Gaussian values: no ties
    write_codalab_zip(tmp_path / "sub.zip", matrices, phase_slug="public_server_val")
    done = run_cli(
        "score", "--ground-truth", tmp_path / "gt.h5", "--submission", tmp_path / "sub.zip", "--json"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["datasets"]) == 5
    for name, sims in matrices.items():
        full = compact_metrics(sims, truth.datasets[name].query_video)["t2v"]
        got = report["datasets"][name]["t2v"]
        for key in ("R1", "R5", "R10"):
            assert got[key] == pytest.approx(full[key], abs=1e-12)
        assert got["MedR"] is None and report["datasets"][name]["v2t"] is None


@pytest.mark.slow
def test_cli_table_and_rejection(tmp_path, tiny_truth_path, tiny_matrices):
    write_h5_submission(tmp_path / "s.h5", tiny_matrices)
    done = run_cli("score", "--ground-truth", tiny_truth_path, "--submission", tmp_path / "s.h5")
    assert done.returncode == 0
    assert "MSRVTT       t2v  similarity" in done.stdout and "overall score (mean" in done.stdout
    tiny_matrices["MSVD"][0, 0] = np.nan
    write_h5_submission(tmp_path / "bad.h5", tiny_matrices)
    done = run_cli("score", "--ground-truth", tiny_truth_path, "--submission", tmp_path / "bad.h5")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "rejected: dataset MSVD, file bad.h5:/MSVD/sims: holds NaN or infinite values" in done.stderr


def test_cli_validate_against_public_shapes(tmp_path, tiny_truth, tiny_matrices):
    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps({"datasets": tiny_truth.public_shapes()}))
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    done = run_cli("validate", "--shapes", shapes, "--submission", tmp_path / "s.npz")
    assert done.returncode == 0 and "ok  MSRVTT" in done.stdout
    done = run_cli("validate", "--submission", tmp_path / "s.npz", "--pentathlon-phase", "val")
    assert done.returncode == 2
    assert "dataset MSRVTT, file MSRVTT.npy: similarity matrix has shape (118, 30)" in done.stderr


def test_cli_rejects_bad_ground_truth(tmp_path, tiny_matrices):
    (tmp_path / "gt.h5").write_bytes(b"not hdf5")
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    done = run_cli("score", "--ground-truth", tmp_path / "gt.h5", "--submission", tmp_path / "s.npz")
    assert done.returncode == 3 and "invalid ground truth" in done.stderr


def test_cuda_request_without_gpu_is_a_clear_error(tmp_path, tiny_truth, tiny_matrices):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present; tests/evaluation/test_gpu.py covers it")
    write_npz_submission(tmp_path / "s.npz", tiny_matrices)
    with pytest.raises(Exception, match="no CUDA device is available"):
        score_submission(ground_truth=tiny_truth, submission_path=tmp_path / "s.npz", device="cuda")


def test_ground_truth_subset_truth_is_usable():
    truth = pentathlon_ground_truth(phase="val", scale="tiny", datasets=("DiDeMo",))
    assert isinstance(truth, GroundTruth) and list(truth.datasets) == ["DiDeMo"]


def test_a_small_matrix_is_scored_without_loading_numba(tmp_path, tiny_truth, tiny_truth_path, tiny_matrices):
    """Each scoring child is a fresh process: below the compiled kernel's size the numpy kernel gives
    the same ranks without numba's import and cache load (about 0.4 s of every scoring)."""
    path = tmp_path / "sub.npz"
    write_npz_submission(path, tiny_matrices)
    truth = tiny_truth_path
    script = (
        "import sys\n"
        "from evaluation.ground_truth import read_ground_truth\n"
        "from evaluation.scoring import score_submission\n"
        f"truth = read_ground_truth({str(truth)!r})\n"
        f"report = score_submission(ground_truth=truth, submission_path={str(path)!r}, ranks_out={{}})\n"
        "print('numba' in sys.modules, report['overall_score'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded, score = done.stdout.split()
    assert loaded == "False"
    assert float(score) == score_submission(ground_truth=tiny_truth, submission_path=path)["overall_score"]
