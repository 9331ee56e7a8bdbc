"""The fast kernel against the literal brute-force reference on generated matrices."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.errors import SubmissionFormatError
from evaluation.metrics import compact_metrics, retrieval_ranks, t2v_metrics, topk_metrics, v2t_metrics
from evaluation.synthetic import topk_lists

from .reference import brute_force_metrics, brute_force_ranks


@st.composite
def padded_case(draw):
    videos = draw(st.integers(1, 9))
    captions = draw(st.integers(1, 4))
    levels = draw(st.sampled_from([2, 3, 5, 1000]))  # few levels -> many ties
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    sims = (rng.integers(0, levels, size=(videos * captions, videos)) / levels).astype(dtype)
    masks = rng.random((videos, captions)) < 0.7
    masks[:, 0] = True  # every video keeps at least one caption
    return sims, masks


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(padded_case())
def test_padded_layout_matches_brute_force(case):
    sims, masks = case
    videos, captions = masks.shape
    query_video = [row // captions for row in range(videos * captions)]
    t2v, v2t = brute_force_ranks(sims, query_video, list(masks.reshape(-1)))
    got_t2v, got_v2t = t2v_metrics(sims, masks), v2t_metrics(sims, masks)
    for key, value in brute_force_metrics(t2v).items():
        assert got_t2v[key] == pytest.approx(value, abs=1e-9)
    for key, value in brute_force_metrics(v2t).items():
        assert got_v2t[key] == pytest.approx(value, abs=1e-9)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(1, 30), st.integers(0, 2**31))
def test_masked_rows_are_ignored_whatever_they_hold(videos, captions, seed):
    rng = np.random.default_rng(seed)
    sims = rng.integers(0, 4, size=(videos * captions, videos)).astype(np.float32)
    masks = rng.random((videos, captions)) < 0.5
    masks[:, 0] = True
    garbage = sims.copy()
    garbage[~masks.reshape(-1)] = np.nan  # masked rows may hold anything, NaN included
    assert t2v_metrics(garbage, masks) == t2v_metrics(sims, masks)
    assert v2t_metrics(garbage, masks) == v2t_metrics(sims, masks)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 40), st.integers(0, 2**31))
def test_compact_layout_with_arbitrary_query_order(videos, queries, seed):
    rng = np.random.default_rng(seed)
    query_video = rng.integers(0, videos, size=max(queries, videos))
    query_video[:videos] = np.arange(videos)
    rng.shuffle(query_video)
    sims = rng.integers(0, 3, size=(query_video.size, videos)).astype(np.float32)
    t2v, v2t = brute_force_ranks(sims, list(query_video), [True] * query_video.size)
    got = compact_metrics(sims, query_video)
    assert got["t2v"] == pytest.approx(brute_force_metrics(t2v), abs=1e-9)
    assert got["v2t"] == pytest.approx(brute_force_metrics(v2t), abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(padded_case())
def test_compiled_and_numpy_kernels_agree(case):
    sims, masks = case
    if sims.dtype == np.float16:
        sims = sims.astype(np.float32)
    query_video = np.repeat(np.arange(masks.shape[0]), masks.shape[1])
    a = retrieval_ranks(sims, query_video, valid_rows=masks.reshape(-1), backend="numpy")
    b = retrieval_ranks(sims, query_video, valid_rows=masks.reshape(-1), backend="compiled")
    np.testing.assert_array_equal(a["t2v"], b["t2v"])
    np.testing.assert_array_equal(a["v2t"], b["v2t"])


def test_float16_uses_the_numpy_kernel_and_agrees():
    rng = np.random.default_rng(1)
    sims = rng.standard_normal((60, 20)).astype(np.float16)
    query_video = np.repeat(np.arange(20), 3)
    a = retrieval_ranks(sims, query_video)
    b = retrieval_ranks(sims.astype(np.float32), query_video, backend="compiled")
    np.testing.assert_array_equal(a["t2v"], b["t2v"])
    with pytest.raises(ValueError, match="compiled kernel needs numba and a float32 or float64"):
        retrieval_ranks(sims, query_video, backend="compiled")


def test_threads_and_blocks_do_not_change_ranks():
    rng = np.random.default_rng(3)
    videos, captions = 301, 7
    sims = rng.integers(0, 50, size=(videos * captions, videos)).astype(np.float32)
    masks = rng.random((videos, captions)) < 0.8
    masks[:, 0] = True
    query_video = np.repeat(np.arange(videos), captions)
    single = retrieval_ranks(sims, query_video, valid_rows=masks.reshape(-1), threads=1, backend="numpy")
    many = retrieval_ranks(sims, query_video, valid_rows=masks.reshape(-1), threads=3, backend="numpy")
    np.testing.assert_array_equal(single["t2v"], many["t2v"])
    np.testing.assert_array_equal(single["v2t"], many["v2t"])


def test_constant_scores_give_chance_not_perfect_recall():
    metrics = t2v_metrics(np.zeros((10, 10), dtype=np.float32))
    assert metrics["R1"] == 0.0
    assert metrics["MedR"] == 5.5


def test_float16_is_compared_exactly():
    sims = np.array([[1.0, 1.0 + 2**-10], [0.0, 1.0]], dtype=np.float16)
    assert t2v_metrics(sims)["R1"] == 50.0


def test_topk_recall_equals_full_matrix_recall_without_ties():
    rng = np.random.default_rng(0)
    query_video = np.repeat(np.arange(40), 3)
    sims = rng.standard_normal((120, 40)).astype(np.float32)
    sims[np.arange(120), query_video] += 1.5
    full = compact_metrics(sims, query_video)["t2v"]
    lists = topk_metrics(topk_lists(sims, 10), query_video)
    for key in ("R1", "R5", "R10", "geometric_mean_R1-R5-R10"):
        assert lists[key] == pytest.approx(full[key], abs=1e-12)
    assert lists["MedR"] is None and lists["MeanR"] is None and lists["R50"] is None


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected(bad, backend):
    sims = np.eye(4, dtype=np.float32)
    sims[2, 1] = bad
    with pytest.raises(SubmissionFormatError, match="NaN or infinite"):
        retrieval_ranks(sims, np.arange(4), backend=backend)


def test_integer_matrix_is_rejected():
    with pytest.raises(SubmissionFormatError, match="expected float16, float32 or float64"):
        t2v_metrics(np.eye(3, dtype=np.int64))


def test_rows_not_a_multiple_of_videos_is_rejected():
    with pytest.raises(SubmissionFormatError, match="whole multiple"):
        t2v_metrics(np.zeros((7, 3), dtype=np.float32))


def test_a_video_without_valid_caption_cannot_have_a_v2t_rank():
    masks = np.array([[1, 1], [0, 0]], dtype=bool)
    with pytest.raises(SubmissionFormatError, match="no valid query"):
        v2t_metrics(np.zeros((4, 2), dtype=np.float32), masks)
