"""evaluation.uncertainty: intervals and paired tests against a loop reference, and by simulation."""

import json

import numpy as np
import pytest

from evaluation import uncertainty
from evaluation.metrics import GEOMETRIC_MEAN_KEY, METRIC_KEYS, metrics_from_ranks, topk_metrics
from evaluation.uncertainty import (
    bootstrap_replicates,
    compare_submissions,
    dataset_intervals,
    dataset_stream,
    leaderboard_ties,
    pack_ranks,
    paired_comparison,
    percentile_interval,
    resample_counts,
    submission_intervals,
    unpack_ranks,
)

from .reference import brute_force_metrics


def loop_bootstrap(ranks, counts, groups=None, topk=None):
    """The plain reference: build every resample as a list, then score it query by query."""
    ranks = [float(r) for r in ranks]
    units = sorted(set(groups)) if groups is not None else list(range(len(ranks)))
    members = {
        u: [q for q in range(len(ranks)) if (groups[q] if groups is not None else q) == u] for u in units
    }
    out = {key: [] for key in METRIC_KEYS}
    for row in counts:
        resampled = []
        for unit, times in zip(units, row, strict=True):
            for _ in range(int(times)):
                resampled.extend(ranks[q] for q in members[unit])
        if topk is not None:
            resampled = [topk if r == float("inf") else r for r in resampled]
        for key, value in brute_force_metrics(resampled).items():
            out[key].append(value)
    return {key: np.array(values) for key, values in out.items()}


def caption_groups(rng, videos, most):
    sizes = rng.integers(1, most + 1, size=videos)
    groups = np.repeat(np.arange(videos), sizes)
    return groups[rng.permutation(groups.size)]  # any order: units are found, not assumed contiguous


def half_ranks(rng, size, scale=8.0):
    return np.floor(rng.exponential(scale, size) * 2.0) / 2.0


def case(name, seed=0):
    """Small rank vectors: plain, grouped by video (uneven caption counts), heavy ties, top-k lists."""
    rng = np.random.default_rng(seed)
    if name == "plain":
        return half_ranks(rng, 41), None, None
    if name == "grouped":
        groups = caption_groups(rng, 12, 6)
        return half_ranks(rng, groups.size), groups, None
    if name == "ties":
        return rng.choice([0.0, 0.5, 2.0, 4.5, 9.0, 60.0], size=37), None, None
    if name == "grouped_ties":
        groups = caption_groups(rng, 9, 7)
        return rng.choice([0.0, 1.0, 3.0, 3.5], size=groups.size), groups, None
    k, size = {"topk10": (10, 45), "topk5": (5, 30)}[name]
    return np.where(rng.random(size) < 0.35, np.inf, rng.integers(0, k, size)), None, k


ALL_CASES = ["plain", "grouped", "ties", "grouped_ties", "topk10", "topk5"]


@pytest.mark.parametrize("name", ALL_CASES)
@pytest.mark.parametrize("median_path", ["default", "histogram", "queries", "fallback"])
def test_vectorised_replicates_equal_the_loop_reference(name, median_path, monkeypatch):
    if median_path == "histogram":
        monkeypatch.setattr(uncertainty.resampling, "_HISTOGRAM_COST_RATIO", 10**9)
    elif median_path == "queries":
        monkeypatch.setattr(uncertainty.resampling, "_HISTOGRAM_COST_RATIO", 0)
    elif median_path == "fallback":  # a window of a few ranks: most medians are recomputed on all
        monkeypatch.setattr(uncertainty.resampling, "_MEDIAN_WINDOW_SDS", 0.0)
    ranks, groups, topk = case(name)
    units = len(set(groups.tolist())) if groups is not None else ranks.size
    counts = resample_counts(units, 60, seed=3)
    fast = bootstrap_replicates(ranks, counts, groups=groups, topk=topk)
    slow = loop_bootstrap(ranks, counts, groups=None if groups is None else groups.tolist(), topk=topk)
    # The scorer's own report of top-k lists says which metrics they give.
    reported = (
        topk_metrics(np.arange(topk)[None, :], np.array([0])) if topk else dict.fromkeys(METRIC_KEYS, 0.0)
    )
    computable = 0
    for key in METRIC_KEYS:
        assert (fast[key] is None) == (reported[key] is None), key
        if fast[key] is None:
            continue
        computable += 1
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert computable >= 2


@pytest.mark.parametrize("name", ALL_CASES)
def test_intervals_are_the_percentiles_of_the_shared_draws(name):
    ranks, groups, topk = case(name, seed=1)
    found = dataset_intervals(ranks, groups=groups, topk=topk, level=0.9, resamples=80, seed=11, stream=5)
    units = len(set(groups.tolist())) if groups is not None else ranks.size
    counts = resample_counts(units, 80, seed=11, stream=5)
    slow = loop_bootstrap(ranks, counts, groups=None if groups is None else groups.tolist(), topk=topk)
    point = metrics_from_ranks(np.where(np.isinf(ranks), float(topk or 0), ranks))
    for key in METRIC_KEYS:
        if found[key] is None:
            continue
        low, high = np.quantile(slow[key], [0.05, 0.95])
        assert found[key].low == pytest.approx(low, rel=1e-12, abs=1e-12)
        assert found[key].high == pytest.approx(high, rel=1e-12, abs=1e-12)
        assert found[key].estimate == point[key]
        assert found[key].level == 0.9


def test_resample_counts_are_seeded_multinomial_draws():
    counts = resample_counts(50, 300, seed=4, stream=2)
    assert counts.shape == (300, 50) and counts.dtype == np.int32
    assert (counts.sum(axis=1) == 50).all()
    assert np.array_equal(counts, resample_counts(50, 300, seed=4, stream=2))
    assert not np.array_equal(counts, resample_counts(50, 300, seed=5, stream=2))
    assert not np.array_equal(counts, resample_counts(50, 300, seed=4, stream=3))
    # The first rows do not depend on how many are drawn (blocks of fixed size, own child seeds).
    assert np.array_equal(resample_counts(50, 130, seed=4, stream=2), counts[:130])
    assert counts.mean() == pytest.approx(1.0) and counts.var() == pytest.approx(1.0, abs=0.05)
    wide = resample_counts(70_000, 2, seed=1)  # more units than 16-bit picks can name
    assert (wide.sum(axis=1) == 70_000).all() and wide[:, 65_536:].sum() > 0


def test_intervals_are_deterministic_for_a_seed_and_move_with_it():
    rng = np.random.default_rng(2)
    ranks = half_ranks(rng, 500, scale=20.0)
    first = dataset_intervals(ranks, resamples=300, seed=9)
    assert first == dataset_intervals(ranks, resamples=300, seed=9)
    other = dataset_intervals(ranks, resamples=300, seed=10)
    assert any(first[key].low != other[key].low or first[key].high != other[key].high for key in METRIC_KEYS)


def test_each_dataset_keeps_its_draws_whatever_else_the_submission_holds():
    rng = np.random.default_rng(3)
    entry = {"t2v": half_ranks(rng, 90), "v2t": half_ranks(rng, 30), "groups": np.repeat(np.arange(30), 3)}
    other = {"t2v": half_ranks(rng, 40), "v2t": None, "groups": None}
    alone = submission_intervals({"MSVD": entry}, resamples=200)
    together = submission_intervals({"DiDeMo": other, "MSVD": entry}, resamples=200)
    assert alone["datasets"]["MSVD"] == together["datasets"]["MSVD"]
    assert dataset_stream("MSVD") != dataset_stream("DiDeMo")


def coverage(truth, draw, *, trials, resamples, grouped=True):
    """Share of trials whose 95 % interval holds the true value, for each metric in `truth`."""
    covered = dict.fromkeys(truth, 0)
    for trial in range(trials):
        ranks, groups = draw(np.random.default_rng([7, trial]))
        groups = groups if grouped else None
        units = ranks.size if groups is None else np.unique(groups).size
        counts = resample_counts(units, resamples, seed=trial, stream=1)
        replicates = bootstrap_replicates(ranks, counts, groups=groups, metrics=list(truth))
        for metric, true_value in truth.items():
            low, high = percentile_interval(replicates[metric])
            covered[metric] += low <= true_value <= high
    return {metric: hits / trials for metric, hits in covered.items()}


@pytest.mark.slow
def test_coverage_of_recall_intervals_is_close_to_the_level():
    # True R1 = 30 % and R10 = 30 % + 70 % * 9/100 = 36.3 % (ranks 1..100 uniform otherwise).
    def draw(rng):
        hit = rng.random(400) < 0.3
        return np.where(hit, 0.0, rng.integers(1, 101, size=400).astype(float)), None

    found = coverage({"R1": 30.0, "R10": 36.3}, draw, trials=400, resamples=400)
    assert 0.92 <= found["R1"] <= 0.98, found
    assert 0.92 <= found["R10"] <= 0.98, found


@pytest.mark.slow
def test_grouped_bootstrap_covers_clustered_captions_where_the_plain_one_does_not():
    # 60 videos of 10 captions; each video's captions share its difficulty (the video's own R1 rate),
    # so captions are far from independent. True R1 = mean of Beta(1, 2) = 1/3.
    def draw(rng):
        video_rate = rng.beta(1.0, 2.0, size=60)
        groups = np.repeat(np.arange(60), 10)
        hit = rng.random(groups.size) < video_rate[groups]
        return np.where(hit, 0.0, 7.0), groups

    grouped = coverage({"R1": 100 / 3}, draw, trials=250, resamples=300)["R1"]
    plain = coverage({"R1": 100 / 3}, draw, trials=250, resamples=300, grouped=False)["R1"]
    assert grouped >= 0.9, grouped
    assert plain <= 0.8, plain


def test_grouped_and_plain_bootstrap_agree_on_independent_captions():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(300), 20)
    ranks = half_ranks(rng, groups.size, scale=15.0)
    grouped = dataset_intervals(ranks, groups=groups, resamples=2000, seed=1)
    plain = dataset_intervals(ranks, resamples=2000, seed=1)
    for key in ("R1", "R5", "R10", "R50", "MeanR", GEOMETRIC_MEAN_KEY):
        ratio = (grouped[key].high - grouped[key].low) / (plain[key].high - plain[key].low)
        assert 0.85 <= ratio <= 1.18, (key, ratio)
        assert grouped[key].estimate == plain[key].estimate


def identical_in_distribution(rng, queries=300):
    """Two submissions on the same queries: each query has a difficulty both feel, noise of their own."""
    difficulty = rng.exponential(6.0, size=queries)
    a = np.floor(rng.exponential(difficulty))
    b = np.floor(rng.exponential(difficulty))
    return a, b


@pytest.mark.parametrize("method", ["bootstrap", "permutation"])
def test_paired_test_rejects_at_about_the_nominal_rate_without_a_difference(method):
    trials = 300
    rejected = 0
    for trial in range(trials):
        a, b = identical_in_distribution(np.random.default_rng([11, trial]))
        result = paired_comparison(a, b, method=method, resamples=400, seed=trial)
        rejected += result.significant
    rate = rejected / trials
    assert 0.015 <= rate <= 0.09, rate


def test_paired_test_sees_a_real_difference_and_its_direction():
    rng = np.random.default_rng(12)
    difficulty = rng.exponential(6.0, size=600)
    better = np.floor(rng.exponential(difficulty * 0.5))
    worse = np.floor(rng.exponential(difficulty))
    for method in ("bootstrap", "permutation"):
        found = paired_comparison(better, worse, method=method, resamples=500)
        assert found.a_better and not found.b_better and found.difference > 0, method
        flipped = paired_comparison(worse, better, method=method, resamples=500)
        assert flipped.b_better and not flipped.a_better, method
    mean_rank = paired_comparison(better, worse, metric="MeanR", resamples=500)
    assert mean_rank.difference < 0 and mean_rank.a_better  # lower is better
    assert mean_rank.low < mean_rank.high < 0


def test_identical_submissions_are_never_significantly_different():
    ranks = half_ranks(np.random.default_rng(13), 200)
    for method in ("bootstrap", "permutation"):
        found = paired_comparison(ranks, ranks.copy(), method=method, resamples=200)
        assert found.difference == 0.0 and found.p_value == 1.0 and not found.significant


def test_the_paired_bootstrap_uses_the_draws_of_the_intervals():
    rng = np.random.default_rng(14)
    groups = np.repeat(np.arange(40), 3)
    a, b = half_ranks(rng, 120), half_ranks(rng, 120)
    found = paired_comparison(a, b, groups=groups, metric="R5", resamples=150, seed=2, stream=8, level=0.8)
    counts = resample_counts(40, 150, seed=2, stream=8)
    differences = (
        loop_bootstrap(a, counts, groups.tolist())["R5"] - loop_bootstrap(b, counts, groups.tolist())["R5"]
    )
    low, high = np.quantile(differences, [0.1, 0.9])
    assert (found.low, found.high) == (pytest.approx(low), pytest.approx(high))
    share = (1 + min((differences <= 0).sum(), (differences >= 0).sum())) / 151
    assert found.p_value == pytest.approx(min(1.0, 2 * share))


def submission(rng, shift=1.0, topk_dataset=False):
    """A three-dataset submission's ranks: MSRVTT-like grouped, two with one caption per video."""
    groups = np.repeat(np.arange(50), 4)
    out = {
        "MSRVTT": {
            "t2v": half_ranks(rng, 200, 6 * shift),
            "v2t": half_ranks(rng, 50, 5 * shift),
            "groups": groups,
        },
        "DiDeMo": {
            "t2v": half_ranks(rng, 80, 9 * shift),
            "v2t": half_ranks(rng, 80, 9 * shift),
            "groups": np.arange(80),
        },
    }
    if topk_dataset:
        ranks = np.where(rng.random(60) < 0.4, np.inf, rng.integers(0, 10, 60).astype(float))
        out["YouCook2"] = {"t2v": ranks, "v2t": None, "groups": np.arange(60), "topk": 10}
    return out


def test_submission_intervals_cover_every_metric_and_the_overall_score():
    rng = np.random.default_rng(15)
    ranks = submission(rng, topk_dataset=True)
    report = submission_intervals(ranks, resamples=300, aggregation="mean")
    json.dumps(report)  # stored beside the result as JSON
    assert (
        report["level"] == 0.95 and report["resamples"] == 300 and report["method"] == "percentile bootstrap"
    )
    msrvtt = report["datasets"]["MSRVTT"]
    assert msrvtt["grouped"] and msrvtt["units"] == 50
    expected = metrics_from_ranks(ranks["MSRVTT"]["t2v"])
    for key in METRIC_KEYS:
        found = msrvtt["t2v"][key]
        assert found["estimate"] == expected[key]
        assert found["low"] <= found["high"]
    assert msrvtt["score"] == msrvtt["t2v"][GEOMETRIC_MEAN_KEY]
    assert set(msrvtt["v2t"]) == set(METRIC_KEYS)
    youcook = report["datasets"]["YouCook2"]
    assert youcook["v2t"] is None and youcook["t2v"]["MedR"] is None and youcook["t2v"]["R50"] is None
    scores = [report["datasets"][name]["score"]["estimate"] for name in ranks]
    overall = report["overall_score"]
    assert overall["estimate"] == pytest.approx(sum(scores) / 3)
    assert overall["low"] < overall["estimate"] < overall["high"]
    # Averaging three independent datasets narrows the interval below the widest one's.
    widest = max(
        report["datasets"][n]["score"]["high"] - report["datasets"][n]["score"]["low"] for n in ranks
    )
    assert overall["high"] - overall["low"] < widest


def test_overall_interval_follows_the_phase_aggregation_and_datasets():
    ranks = submission(np.random.default_rng(16))
    mean = submission_intervals(ranks, resamples=200)["overall_score"]
    summed = submission_intervals(ranks, resamples=200, aggregation="sum")["overall_score"]
    assert summed["estimate"] == pytest.approx(2 * mean["estimate"])
    assert summed["low"] == pytest.approx(2 * mean["low"]) and summed["high"] == pytest.approx(
        2 * mean["high"]
    )
    partial = submission_intervals(ranks, resamples=200, phase_datasets=["MSRVTT", "DiDeMo", "MSVD"])
    assert partial["overall_score"] is None and partial["datasets"]["MSRVTT"]["score"] is not None


def test_v2t_intervals_resample_the_same_videos_as_t2v():
    ranks = submission(np.random.default_rng(17))["MSRVTT"]
    report = submission_intervals({"MSRVTT": ranks}, resamples=100, seed=3)["datasets"]["MSRVTT"]
    counts = resample_counts(50, 100, seed=3, stream=dataset_stream("MSRVTT"))
    low, high = np.quantile(loop_bootstrap(ranks["v2t"], counts)["R1"], [0.025, 0.975])
    assert report["v2t"]["R1"]["low"] == pytest.approx(low) and report["v2t"]["R1"]["high"] == pytest.approx(
        high
    )


def test_compare_submissions_per_dataset_and_overall():
    rng = np.random.default_rng(18)
    good, bad = submission(rng, shift=0.4), submission(rng, shift=1.5)
    found = compare_submissions(good, bad, resamples=300)
    json.dumps(found)
    assert found["overall_score"]["a_better"] and found["overall_score"]["difference"] > 0
    assert set(found["datasets"]) == {"MSRVTT", "DiDeMo"}
    same = compare_submissions(good, good, resamples=300)
    assert same["overall_score"]["p_value"] == 1.0 and not same["overall_score"]["significant"]
    del bad["DiDeMo"]
    partial = compare_submissions(good, bad, resamples=300)
    assert partial["overall_score"] is None and set(partial["datasets"]) == {"MSRVTT"}


def test_leaderboard_marks_entries_tied_within_noise():
    rng = np.random.default_rng(19)
    first = submission(rng, shift=0.4)
    twin = {name: {**entry, "t2v": entry["t2v"].copy()} for name, entry in first.items()}
    twin["DiDeMo"]["t2v"][0] += 1.0  # one query a hair worse: inside the noise
    far = submission(rng, shift=3.0)
    missing = {"MSRVTT": far["MSRVTT"]}
    marks = leaderboard_ties([first, twin, far, missing], phase_datasets=["MSRVTT", "DiDeMo"], resamples=300)
    json.dumps(marks)
    assert [m["tied_within_noise"] for m in marks] == [False, True, False, False]
    assert marks[0]["vs_above"] is None and marks[0]["vs_first"] is None
    assert marks[1]["vs_above"] == marks[1]["vs_first"] and marks[1]["vs_above"]["difference"] >= 0
    assert marks[2]["vs_above"]["a_better"] and marks[2]["vs_first"]["a_better"]
    assert marks[3]["vs_above"] is None  # no overall score: not comparable


def test_leaderboard_ties_equal_pairwise_comparisons():
    rng = np.random.default_rng(20)
    entries = [submission(rng, shift=s) for s in (0.9, 1.0, 1.1)]
    marks = leaderboard_ties(entries, phase_datasets=["MSRVTT", "DiDeMo"], resamples=200, seed=4)
    pair = compare_submissions(entries[1], entries[2], resamples=200, seed=4)["overall_score"]
    assert marks[2]["vs_above"] == pair
    assert marks[2]["tied_within_noise"] == (not pair["a_better"])


def test_pack_ranks_round_trips_exactly_and_compactly():
    rng = np.random.default_rng(21)
    groups = np.repeat(np.arange(2990), 20)[:59_794]
    ranks = {
        "MSRVTT": {
            "t2v": np.minimum(half_ranks(rng, groups.size, 40.0), 2989).astype(np.float32),
            "v2t": np.minimum(half_ranks(rng, 2990, 30.0), 59_793).astype(np.float32),
            "groups": groups.astype(np.int32),
            "topk": None,
        },
        "YouCook2": {"t2v": np.array([0.0, np.inf, 9.0]), "v2t": None, "groups": None, "topk": 10},
        "Huge": {
            "t2v": np.array([0.5, 4_000_000.0]),
            "v2t": None,
            "groups": np.array([0, 70_000]),
            "topk": None,
        },
    }
    blob = pack_ranks(ranks)
    back = unpack_ranks(blob)
    assert list(back) == ["MSRVTT", "YouCook2", "Huge"]
    for name, entry in ranks.items():
        assert np.array_equal(back[name]["t2v"], entry["t2v"])
        for key in ("v2t", "groups"):
            assert (back[name][key] is None) == (entry[key] is None)
            if entry[key] is not None:
                assert np.array_equal(back[name][key], entry[key])
        assert back[name]["topk"] == entry["topk"]
    assert back["MSRVTT"]["groups"].dtype == np.int32
    assert len(blob) < 400_000, len(blob)  # 60,000 ranks and their videos
    assert submission_intervals(back, resamples=50) == submission_intervals(
        {name: {**entry, "t2v": np.asarray(entry["t2v"], np.float64)} for name, entry in ranks.items()},
        resamples=50,
    )


def test_pack_ranks_rejects_what_it_cannot_store_exactly():
    with pytest.raises(ValueError, match="multiples of 0.5"):
        pack_ranks({"D": {"t2v": np.array([0.25])}})
    with pytest.raises(ValueError, match="no t2v entry"):
        pack_ranks({"D": {"v2t": np.array([0.0])}})
    with pytest.raises(ValueError, match="Groups of dataset D"):
        pack_ranks({"D": {"t2v": np.array([0.0]), "groups": np.array([-1])}})


def test_unpack_ranks_refuses_foreign_or_pickled_blobs(tmp_path):
    import io

    for blob in (b"not a zip", b""):
        with pytest.raises(ValueError, match="could not be read"):
            unpack_ranks(blob)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format_version=np.array([1], np.int32),
        datasets=np.array(["D"]),
        t2v_0=np.array([{}], dtype=object),
    )
    with pytest.raises(ValueError, match="could not be read"):
        unpack_ranks(buffer.getvalue())
    buffer = io.BytesIO()
    np.savez(buffer, format_version=np.array([99], np.int32))
    with pytest.raises(ValueError, match="unknown format version"):
        unpack_ranks(buffer.getvalue())


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, "0.95", True, float("nan")])
def test_bad_levels_are_refused_with_the_expected_range(level):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        dataset_intervals(np.zeros(5), level=level)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: dataset_intervals(np.zeros(5), resamples=0), "at least 1"),
        (lambda: dataset_intervals(np.zeros(5), resamples=2.5), "whole number of at least 1"),
        (lambda: dataset_intervals(np.zeros(5), seed=-1), "non-negative whole number"),
        (lambda: dataset_intervals(np.array([])), "at least one query"),
        (lambda: dataset_intervals(np.zeros((2, 2))), "one-dimensional"),
        (lambda: dataset_intervals(np.array([0.0, np.nan])), "NaN or negative"),
        (lambda: dataset_intervals(np.array([0.0, -1.0])), "NaN or negative"),
        (lambda: dataset_intervals(np.array([0.0, np.inf])), "only when topk is given"),
        (lambda: dataset_intervals(np.zeros(4), groups=np.zeros(3)), "3 entries but there are 4 ranks"),
        (lambda: dataset_intervals(np.zeros(4), topk=0), "positive whole number"),
        (lambda: bootstrap_replicates(np.zeros(4), np.ones((2, 3))), r"expected \(resamples, 4\)"),
        (lambda: bootstrap_replicates(np.zeros(4), np.ones((2, 4)), metrics=["R2"]), "Unknown metric 'R2'"),
        (lambda: paired_comparison(np.zeros(4), np.zeros(5)), "4 and 5 ranks"),
        (lambda: paired_comparison(np.zeros(4), np.zeros(4), metric="MedR", method="permutation"), "median"),
        (lambda: paired_comparison(np.zeros(4), np.zeros(4), method="exact"), "Unknown test method"),
        (lambda: paired_comparison(np.zeros(4), np.zeros(4), metric="MedR", topk=10), "cannot be computed"),
        (lambda: submission_intervals({"D": {"t2v": np.zeros(3)}}, aggregation="max"), "unknown aggregation"),
        (lambda: submission_intervals({"D": {"v2t": np.zeros(3)}}), "no t2v entry"),
        (lambda: percentile_interval(np.zeros(3), level=2), "strictly between 0 and 1"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_paired_comparisons_need_the_same_queries():
    a = {"D": {"t2v": np.zeros(6), "groups": np.repeat(np.arange(3), 2)}}
    b = {"D": {"t2v": np.zeros(6), "groups": np.arange(6)}}
    with pytest.raises(ValueError, match="group their queries differently"):
        compare_submissions(a, b, resamples=20)


def test_a_top_k_entry_compares_with_a_full_ranking_on_the_primary_score():
    rng = np.random.default_rng(22)
    full = half_ranks(rng, 120, 6.0)
    listed = np.where(full < 10, full, np.inf)  # the same ranks seen through top-10 lists
    other = half_ranks(rng, 120, 6.0)
    as_lists = {"D": {"t2v": listed, "groups": None, "topk": 10}}
    same = compare_submissions({"D": {"t2v": full, "groups": None}}, as_lists, resamples=100)["overall_score"]
    assert same["difference"] == 0.0 and same["p_value"] == 1.0
    found = compare_submissions({"D": {"t2v": other, "groups": None}}, as_lists, resamples=100)[
        "overall_score"
    ]
    expected = metrics_from_ranks(other)[GEOMETRIC_MEAN_KEY] - metrics_from_ranks(full)[GEOMETRIC_MEAN_KEY]
    assert found["difference"] == pytest.approx(expected)


def test_the_score_metric_is_the_callers_choice_for_intervals_and_comparisons():
    rng = np.random.default_rng(5)
    ranks = {
        name: {"t2v": rng.integers(0, 30, size=60).astype(float), "v2t": None, "groups": None}
        for name in ("A", "B")
    }
    out = submission_intervals(ranks, resamples=200, seed=3, metric="R5")
    assert out["metric"] == "R5"
    for name in ("A", "B"):
        assert out["datasets"][name]["score"] == out["datasets"][name]["t2v"]["R5"]
    expected = (out["datasets"]["A"]["score"]["estimate"] + out["datasets"]["B"]["score"]["estimate"]) / 2
    assert out["overall_score"]["estimate"] == pytest.approx(expected)
    worse = {name: {**entry, "t2v": entry["t2v"] + 25.0} for name, entry in ranks.items()}
    comparison = compare_submissions(ranks, worse, resamples=200, metric="MedR")["overall_score"]
    assert comparison["metric"] == "MedR" and comparison["difference"] < 0 and comparison["a_better"]
    marks = leaderboard_ties([ranks, worse], phase_datasets=["A", "B"], resamples=200, metric="MedR")
    assert marks[1]["vs_above"]["a_better"] and not marks[1]["tied_within_noise"]
    with pytest.raises(ValueError, match="Unknown metric"):
        submission_intervals(ranks, resamples=10, metric="R2")
