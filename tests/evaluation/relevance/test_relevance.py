"""Relevance metrics: trec_eval and scikit-learn references, ties against every order, v2t on sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.errors import SubmissionFormatError
from evaluation.metrics import retrieval_ranks, t2v_metrics, v2t_metrics
from evaluation.metrics.registry import METRIC_KEYS, is_metric, metric
from evaluation.metrics.relevance import (
    Relevance,
    relevance_directions,
    relevance_metrics,
    relevance_rows,
    topk_relevance_metrics,
)

from .brute import expected, orders, value_of_ranking

HERE = Path(__file__).resolve().parent
REFERENCES = json.loads((HERE / "references.json").read_text())
CONFORMANCE = HERE.parent / "conformance"
ALL_KEYS = ["mAP", "mAP@10", "mAP@5", "mAP@1", "RPrec", "Recall@10", "Recall@5", "nDCG", "nDCG@10", "nDCG@5"]


def _table(case: dict) -> tuple[np.ndarray, Relevance]:
    sims = np.array(case["sims"], dtype=np.float64)
    queries, items = sims.shape
    table = Relevance.from_triples(
        case["rel_query"], case["rel_item"], case["rel_grade"], num_queries=queries, num_items=items
    )
    return sims, table


def test_the_references_cover_every_kind_of_case():
    names = {case["name"] for case in REFERENCES["cases"]}
    assert {"binary_sets_with_distractors", "integer_grades", "real_grades_tied_scores"} <= names
    assert {case["tool"] for case in REFERENCES["cases"]} == {"trec_eval", "scikit-learn"}


@pytest.mark.parametrize("case", REFERENCES["cases"], ids=lambda c: c["name"])
@pytest.mark.parametrize("direction", ["t2v", "v2t"])
def test_every_row_equals_the_reference_tool(case, direction):
    sims, table = _table(case)
    reference = case["expected"][direction]
    keys = list(reference["values"])
    got = relevance_directions(sims, table, metrics=keys)[direction]
    assert got.rows.tolist() == reference["rows"]  # v2t: only the items some query finds relevant
    for key in keys:
        np.testing.assert_allclose(got.values[key], reference["values"][key], rtol=0, atol=1e-12, err_msg=key)


def test_the_brute_force_reading_of_a_definition_matches_trec_eval():
    """The tie tests below trust `brute.value_of_ranking`; here it meets trec_eval on untied rows."""
    case = next(c for c in REFERENCES["cases"] if c["name"] == "integer_grades")
    sims, table = _table(case)
    grades = np.zeros(sims.shape)
    grades[case["rel_query"], case["rel_item"]] = case["rel_grade"]
    for key in ("mAP", "mAP@5", "RPrec", "Recall@10", "nDCG", "nDCG@5"):
        for q in range(sims.shape[0]):
            (ranking,) = orders(sims[q])
            assert value_of_ranking(ranking, grades[q], key) == pytest.approx(
                case["expected"]["t2v"]["values"][key][q], abs=1e-12
            )


def _random_tied_row(rng, items, levels, relevant_share):
    scores = rng.integers(0, levels, items).astype(np.float32)
    grades = np.where(rng.random(items) < relevant_share, rng.choice([0.25, 0.5, 1.0], items), 0.0)
    if not grades.any():
        grades[rng.integers(items)] = 1.0
    return scores, grades


@pytest.mark.parametrize(
    "items, levels, relevant_share",
    [(5, 2, 0.5), (6, 3, 0.6), (7, 2, 0.3), (8, 7, 0.9)],  # the last: more than 4 distinct relevant scores
)
def test_ties_give_the_mean_over_every_order(items, levels, relevant_share):
    rng = np.random.default_rng(items * 10 + levels)
    for _ in range(25):
        scores, grades = _random_tied_row(rng, items, levels, relevant_share)
        listed = np.flatnonzero(grades)
        table = Relevance.from_triples(
            np.zeros(listed.size, dtype=int), listed, grades[listed], num_queries=1, num_items=items
        )
        got = relevance_rows(scores[None, :], table, metrics=ALL_KEYS)
        for key in ALL_KEYS:
            assert got.values[key][0] == pytest.approx(expected(scores, grades, key), abs=1e-12), (
                key,
                scores,
                grades,
            )


def test_a_tie_spanning_the_cut_off_counts_its_share():
    # four items tied at the top, two relevant: R-precision and Recall@1 expect 1/2 of a hit per slot
    table = Relevance.from_triples([0, 0], [1, 3], num_queries=1, num_items=5)
    got = relevance_rows(np.array([[1.0, 1.0, 1.0, 1.0, 0.0]]), table, metrics=["RPrec", "Recall@1", "mAP"])
    assert got.values["RPrec"][0] == pytest.approx(0.5)
    assert got.values["Recall@1"][0] == pytest.approx(0.25)
    # AP over the 6 orders of choosing two of four slots: (1/1+2/2 + 1/1+2/3 + ... ) / 6 / 2
    assert got.values["mAP"][0] == pytest.approx(expected([1, 1, 1, 1, 0], [0, 1, 0, 1, 0], "mAP"))
    assert got.first_rank[0] == 1.5  # the tie-averaged rank of the tied group (section 4's rule)


@pytest.mark.parametrize("name", ["square_no_ties", "ties_quantised", "integer_ties", "multi_caption_masked"])
def test_one_relevant_item_gives_the_section_4_ranks_in_both_directions(name):
    case = np.load(CONFORMANCE / f"{name}.npz")
    sims = case["sims"]
    videos = sims.shape[1]
    if "query_masks" in case.files:
        valid = case["query_masks"].reshape(-1).astype(bool)
    else:
        valid = np.ones(sims.shape[0], dtype=bool)
    owner = np.repeat(np.arange(videos), sims.shape[0] // videos)
    compact, query_video = sims[valid], owner[valid]
    legacy = retrieval_ranks(compact, query_video)
    table = Relevance.one_per_query(query_video, videos)
    got = relevance_directions(compact, table)
    np.testing.assert_array_equal(got["t2v"].first_rank, legacy["t2v"])
    np.testing.assert_array_equal(got["v2t"].first_rank, legacy["v2t"])
    masks = case["query_masks"] if "query_masks" in case.files else None
    summary = relevance_metrics(compact, table)
    for key in METRIC_KEYS:
        assert summary["t2v"][key] == t2v_metrics(sims, masks)[key]
        assert summary["v2t"][key] == v2t_metrics(sims, masks)[key]


def test_v2t_on_sets_ranks_the_queries_of_each_relevant_item_with_transposed_grades():
    # 3 queries x 4 items; item 3 is a distractor (nobody's), item 0 is relevant to queries 0 and 2
    sims = np.array([[0.9, 0.2, 0.1, 0.8], [0.3, 0.7, 0.6, 0.95], [0.5, 0.4, 0.9, 0.0]])
    table = Relevance.from_triples(
        [0, 1, 2, 2], [0, 1, 0, 2], [1.0, 1.0, 0.5, 1.0], num_queries=3, num_items=4
    )
    out = relevance_directions(sims, table, metrics=["mAP", "nDCG", "RPrec"])
    assert out["v2t"].rows.tolist() == [0, 1, 2]
    # item 0: queries by score 0 (0.9), 2 (0.5), 1 (0.3); relevant: 0 (grade 1) and 2 (grade 0.5)
    assert out["v2t"].values["mAP"][0] == pytest.approx(1.0)
    assert out["v2t"].first_rank.tolist() == [0.0, 0.0, 0.0]
    # the distractor outranks query 1's relevant item in t2v: rank 1, not 0
    assert out["t2v"].first_rank.tolist() == [0.0, 1.0, 0.0]
    assert out["t2v"].values["mAP"][1] == pytest.approx(0.5)
    # query 2: item 2 (1.0) first, item 0 (0.5) second: the ideal order
    assert out["t2v"].values["nDCG"][2] == pytest.approx(1.0)


def test_graded_ndcg_uses_the_grades_as_gains():
    table = Relevance.from_triples([0, 0], [0, 1], [0.5, 1.0], num_queries=1, num_items=3)
    got = relevance_rows(np.array([[3.0, 2.0, 1.0]]), table, metrics=["nDCG", "nDCG@1", "mAP"])
    ideal = 1.0 + 0.5 / np.log2(3)
    assert got.values["nDCG"][0] == pytest.approx((0.5 + 1.0 / np.log2(3)) / ideal)
    assert got.values["nDCG@1"][0] == pytest.approx(0.5)
    assert got.values["mAP"][0] == 1.0  # binary: every listed pair is relevant, whatever its grade


def test_non_finite_scores_are_refused_with_the_row():
    table = Relevance.from_triples([0, 1], [0, 1], num_queries=2, num_items=2)
    with pytest.raises(SubmissionFormatError, match=r"NaN or infinite values \(in rows 1\.\.1\)"):
        relevance_rows(np.array([[1.0, 0.0], [np.nan, 1.0]]), table, dataset="MyClips")


def test_float16_scores_are_scored_like_their_float32_values():
    rng = np.random.default_rng(3)
    sims = rng.standard_normal((6, 9)).astype(np.float16)
    table = Relevance.from_triples([0, 1, 2, 3, 4, 5, 5], [0, 1, 2, 3, 4, 5, 8], num_queries=6, num_items=9)
    a = relevance_metrics(sims, table, metrics=["mAP", "nDCG"])
    b = relevance_metrics(sims.astype(np.float32), table, metrics=["mAP", "nDCG"])
    assert a == b


@pytest.mark.parametrize(
    "args, message",
    [
        (([0, 1], [0, 5]), r"outside \[0, 4\)"),
        (([0, 3], [0, 1]), r"'rel_query' holds indices outside \[0, 2\)"),
        (([0, 0, 1], [1, 1, 0]), r"the pair \(query 0, item 1\) appears twice"),
        (([0], [0]), r"1 of 2 queries have no relevant item \(first: query 1\)"),
        (([0, 1], [0, 1], [1.0, 0.0]), r"outside \(0, 1\]"),
        (([0, 1], [0, 1], [1.0, np.nan]), r"outside \(0, 1\]"),
        (([0, 1], [0, 1, 2]), "expected three 1-D arrays of the same length"),
        (([0.0, 1.0], [0, 1]), "must hold integers"),
    ],
)
def test_relevance_tables_are_checked(args, message):
    with pytest.raises(ValueError, match=message):
        Relevance.from_triples(*[np.asarray(a) for a in args], num_queries=2, num_items=4)


def test_top_k_lists_on_sets_give_the_cut_off_metrics_and_no_full_list_ones():
    table = Relevance.from_triples([0, 0, 1], [3, 7, 2], [1.0, 0.5, 1.0], num_queries=2, num_items=20)
    topk = np.array([[3, 1, 7] + list(range(8, 15)), [0, 1, 4, 5, 6, 8, 9, 10, 11, 12]])
    out = topk_relevance_metrics(topk, table, ["mAP@10", "Recall@5", "nDCG@10", "mAP", "nDCG@20"])
    got = out["metrics"]
    assert out["first_rank"].tolist() == [0.0, np.inf]
    assert got["R1"] == 50.0 and got["MedR"] is None and got["mAP"] is None and got["nDCG@20"] is None
    assert got["mAP@10"] == pytest.approx(100 * (1.0 + 2 / 3) / 2 / 2)
    assert got["Recall@5"] == pytest.approx(50.0)
    # the same values as the full-matrix kernel on scores that rank the lists first
    sims = np.zeros((2, 20))
    for q, row in enumerate(topk):
        sims[q, row] = np.arange(len(row), 0, -1) + 100.0
        sims[q, np.setdiff1d(np.arange(20), row)] = -np.arange(20 - len(row))
    full = relevance_metrics(sims, table, metrics=["mAP@10", "Recall@5", "nDCG@10"], directions=["t2v"])[
        "t2v"
    ]
    for key in ("mAP@10", "Recall@5", "nDCG@10"):
        assert got[key] == pytest.approx(full[key], abs=1e-12)


def test_the_registry_declares_cut_offs_of_the_at_k_families_only():
    assert metric("mAP@10").reference == "trec_eval map_cut_10" and metric("mAP@10").cutoff == 10
    assert metric("nDCG@5").label == "nDCG@5" and metric("Recall@100").unit == "%"
    assert metric("MedR").unit == "rank" and metric("nDCG").cutoff is None
    for bad in ("mAP@0", "mAP@010", "nDCG@x", "R2", "MAP", "Recall@", "nDCG@100001"):
        assert not is_metric(bad), bad
