"""Intervals and paired tests of the relevance metrics, from their per-query values
(`evaluation/uncertainty/values.py`), and the version 2 blob that keeps them."""

from __future__ import annotations

import io

import numpy as np
import pytest

from evaluation.uncertainty import (
    VALUES_METRIC_MESSAGE,
    compare_submissions,
    dataset_intervals,
    leaderboard_ties,
    pack_ranks,
    paired_comparison,
    submission_intervals,
    unpack_ranks,
)


def _entry(rng, queries, *, quality=0.5, values_too=True):
    """A dataset of `queries` captions, five per clip: ranks, and mAP@10 and nDCG values that follow them."""
    ranks = np.floor(rng.exponential(8.0 / quality, size=queries) * 2.0) / 2.0
    entry = {"t2v": ranks, "v2t": None, "groups": np.arange(queries) // 5, "topk": None}
    if values_too:
        noise = rng.uniform(0.0, 0.2, size=queries)
        entry["t2v_values"] = {
            "mAP@10": np.where(ranks < 10, 1.0 / (ranks + 1.0), 0.0),
            "nDCG": np.clip(1.0 / np.log2(ranks + 2.0) - noise, 0.0, 1.0),
        }
    return entry


def test_an_interval_of_map_at_10_holds_the_reported_value_and_narrows_as_queries_grow():
    widths = []
    for queries in (100, 1_000, 10_000):
        entry = _entry(np.random.default_rng(queries), queries)
        values = entry["t2v_values"]
        interval = dataset_intervals(entry["t2v"], groups=entry["groups"], values=values, resamples=400)[
            "mAP@10"
        ]
        assert interval.estimate == 100.0 * float(np.mean(values["mAP@10"]))
        assert interval.low < interval.estimate < interval.high
        widths.append(interval.high - interval.low)
    assert widths[0] > 2.5 * widths[1] > 2.5 * 2.5 * widths[2]  # about sqrt(10) each time


@pytest.mark.parametrize("method", ["bootstrap", "permutation"])
def test_a_clearly_better_entry_is_significant_and_identical_entries_are_not(method):
    rng = np.random.default_rng(3)
    queries = 600
    better = _entry(rng, queries, quality=1.0)
    worse = {**better, "t2v_values": {k: v * 0.7 for k, v in better["t2v_values"].items()}}
    for key in ("mAP@10", "nDCG"):
        common = {"metric": key, "method": method, "resamples": 500}
        found = paired_comparison(
            better["t2v"], worse["t2v"], values_a=better["t2v_values"], values_b=worse["t2v_values"], **common
        )
        assert found.p_value < 0.01 and found.a_better and not found.b_better
        assert found.difference == pytest.approx(0.3 * 100.0 * float(np.mean(better["t2v_values"][key])))
        same = paired_comparison(
            better["t2v"],
            better["t2v"],
            values_a=better["t2v_values"],
            values_b=better["t2v_values"],
            **common,
        )
        assert same.p_value == 1.0 and same.difference == 0.0 and not same.significant


def test_a_submission_ranked_by_map_at_10_has_its_score_and_overall_interval_and_comparisons():
    rng = np.random.default_rng(4)
    a = {"Clotho": _entry(rng, 500, quality=1.0), "AudioCaps": _entry(rng, 300, quality=1.0)}
    b = {
        name: {**entry, "t2v_values": {k: v * 0.6 for k, v in entry["t2v_values"].items()}}
        for name, entry in a.items()
    }
    found = submission_intervals(a, metric="mAP@10", resamples=300)
    for name, entry in a.items():
        score = found["datasets"][name]["score"]
        assert score == found["datasets"][name]["t2v"]["mAP@10"]
        assert score["estimate"] == 100.0 * float(np.mean(entry["t2v_values"]["mAP@10"]))
    overall = found["overall_score"]
    assert overall["low"] < overall["estimate"] < overall["high"]
    compared = compare_submissions(a, b, metric="mAP@10", resamples=300)
    assert compared["overall_score"]["a_better"] and compared["overall_score"]["p_value"] < 0.01
    marks = leaderboard_ties([a, a, b], phase_datasets=list(a), metric="mAP@10", resamples=300)
    assert [m["tied_within_noise"] for m in marks] == [False, True, False]
    assert marks[1]["vs_above"]["p_value"] == 1.0 and marks[2]["vs_above"]["a_better"]


def test_without_kept_values_a_relevance_score_has_no_interval_but_the_rank_metrics_do():
    rng = np.random.default_rng(5)
    entry = _entry(rng, 200, values_too=False)
    found = submission_intervals({"D": entry}, metric="mAP@10", resamples=50)
    assert found["datasets"]["D"]["score"] is None and found["overall_score"] is None
    assert found["datasets"]["D"]["t2v"]["R1"] is not None and "mAP@10" not in found["datasets"]["D"]["t2v"]


def test_a_version_1_blob_still_reads():
    """Bytes as version 1 wrote them (ranks only): read, and intervals of the rank metrics as before."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        format_version=np.array([1], np.int32),
        datasets=np.array(["MSRVTT"]),
        t2v_0=np.array([0, 5, 2, 8, 0], np.uint16),  # twice the ranks
        v2t_0=np.array([1, 0], np.uint16),
        groups_0=np.array([0, 0, 1, 1, 1], np.uint16),
        topk_0=np.array([0], np.int32),
    )
    back = unpack_ranks(buffer.getvalue())
    assert set(back["MSRVTT"]) == {"t2v", "v2t", "groups", "topk"}
    assert back["MSRVTT"]["t2v"].tolist() == [0.0, 2.5, 1.0, 4.0, 0.0]
    found = submission_intervals(back, resamples=20)
    assert found["datasets"]["MSRVTT"]["t2v"]["R1"]["estimate"] == 40.0


def test_the_version_2_blob_keeps_float32_values_with_their_exact_means_and_is_compact():
    rng = np.random.default_rng(6)
    entry = _entry(rng, 5_225)
    entry["v2t"] = np.floor(rng.exponential(4.0, size=1_045) * 2.0) / 2.0
    entry["v2t_values"] = {"mAP@10": rng.uniform(0.0, 1.0, size=1_045)}
    blob = pack_ranks({"Clotho": entry})
    back = unpack_ranks(blob)["Clotho"]
    for direction in ("t2v", "v2t"):
        for key, values in entry[f"{direction}_values"].items():
            assert back[f"{direction}_means"][key] == 100.0 * float(np.mean(values))
            np.testing.assert_array_equal(back[f"{direction}_values"][key], values.astype(np.float32))
    assert len(blob) < 60_000, len(blob)  # 5,225 + 1,045 rows: about 4 bytes per kept value or less


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"R1": np.zeros(3)}, "not a relevance metric"),
        ({"mAP": np.zeros(4)}, "expected one value per ranked row"),
        ({"mAP": np.array([0.0, 1.5, 0.2])}, "outside \\[0, 1\\]"),
        ({"mAP": np.array([0.0, np.nan, 0.2])}, "outside \\[0, 1\\]"),
    ],
)
def test_values_that_cannot_be_per_query_values_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        dataset_intervals(np.zeros(3), values=values, resamples=10)
    with pytest.raises(ValueError, match=message):
        pack_ranks({"D": {"t2v": np.zeros(3), "t2v_values": values}})
    assert "relevance metric" in VALUES_METRIC_MESSAGE


def test_a_blob_whose_values_do_not_match_its_ranks_is_refused():
    blob = pack_ranks({"D": {"t2v": np.zeros(3), "t2v_values": {"mAP": np.ones(3)}}})
    with np.load(io.BytesIO(blob)) as stored:
        members = {key: stored[key] for key in stored.files}
    members["t2v_values_0"] = members["t2v_values_0"][:, :2]
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    with pytest.raises(ValueError, match="values do not match"):
        unpack_ranks(buffer.getvalue())
