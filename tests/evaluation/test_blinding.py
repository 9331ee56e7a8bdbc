"""Blind publication: opaque ids, a secret order that the scorer maps back, and the leak audit."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.blinding import (
    QUERY_ORDER_AS_UPLOADED,
    QUERY_ORDER_BLIND,
    audit_dataset,
    opaque_query_ids,
    publish_dataset,
    publish_ground_truth,
)
from evaluation.errors import SubmissionFormatError
from evaluation.ground_truth import dataset_truth
from evaluation.io import parse_topk_table
from evaluation.metrics.retrieval import metrics_from_ranks, retrieval_ranks
from evaluation.scoring import score_dataset
from evaluation.synthetic import pentathlon_ground_truth, similarity_matrices, topk_lists
from evaluation.validation import BLIND_TOPK_NEEDS_IDS

SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def grouped():
    """Video-sorted truth with telling ids (`msrvtt-val-00003-c01`), like the 2020 files."""
    return pentathlon_ground_truth(phase="val", scale="tiny", seed=3)


def test_opaque_ids_are_stable_keyed_and_hide_the_organiser_id() -> None:
    ids = ["video7#0", "video7#1", "video8#0"]
    first = opaque_query_ids(secret=SECRET, dataset="MSRVTT", query_ids=ids)
    assert first == opaque_query_ids(secret=SECRET, dataset="MSRVTT", query_ids=ids)
    assert first != opaque_query_ids(secret=b"another secret!!", dataset="MSRVTT", query_ids=ids)
    assert first != opaque_query_ids(secret=SECRET, dataset="MSVD", query_ids=ids)
    assert len(set(first)) == 3
    assert all("video" not in query and "#" not in query for query in first)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        opaque_query_ids(secret=b"short", dataset="MSVD", query_ids=["a"])


def test_published_view_is_a_permutation_that_keeps_every_answer(grouped) -> None:
    truth = grouped.datasets["MSRVTT"]
    view = publish_dataset(truth, secret=SECRET)
    published, rows = view.truth, view.source_rows
    assert sorted(rows.tolist()) == list(range(truth.num_queries))
    assert not np.array_equal(rows, np.arange(truth.num_queries))
    assert np.array_equal(published.query_video, truth.query_video[rows])
    assert published.query_text == tuple(truth.query_text[i] for i in rows)
    assert published.query_masks is None
    assert published.videos == truth.videos
    assert not set(published.query_ids) & set(truth.query_ids)


def test_corrected_ground_truth_with_the_same_ids_keeps_the_published_order(grouped) -> None:
    truth = grouped.datasets["MSVD"]
    fixed_video = truth.query_video.copy()
    fixed_video[[0, 1]] = fixed_video[[1, 0]]  # an organiser fixes two labels
    fixed = dataset_truth(
        name=truth.name, videos=truth.videos, query_ids=truth.query_ids, query_video=fixed_video
    )
    assert (
        publish_dataset(fixed, secret=SECRET).truth.query_ids
        == publish_dataset(truth, secret=SECRET).truth.query_ids
    )


def test_scoring_the_published_view_equals_scoring_the_organiser_rows(grouped) -> None:
    """A submission in the published order scores exactly what the same rows score in the file's order."""
    truth = grouped.datasets["MSVD"]
    view = publish_dataset(truth, secret=SECRET)
    sims = similarity_matrices(grouped, seed=1)["MSVD"]
    original = score_dataset({"sims": sims}, "similarity", truth, member="m")
    blind = score_dataset({"sims": sims[view.source_rows]}, "similarity", view.truth, member="m", blind=True)
    assert blind["t2v"] == original["t2v"]
    assert blind["v2t"] == original["v2t"]


def test_positional_attack_on_the_published_order_scores_at_chance(grouped) -> None:
    """The organiser-order diagonal (perfect as uploaded) lands on random queries once blinded."""
    truth = grouped.datasets["MSRVTT"]
    view = publish_dataset(truth, secret=SECRET)
    attack = np.zeros((truth.num_queries, truth.num_videos), dtype=np.float32)
    attack[np.arange(truth.num_queries), truth.query_video] = 1.0  # what grouped ids/order give away
    as_uploaded = metrics_from_ranks(retrieval_ranks(attack, truth.query_video)["t2v"])
    blinded = metrics_from_ranks(retrieval_ranks(attack, view.truth.query_video)["t2v"])
    assert as_uploaded["R1"] == 100.0
    assert blinded["R1"] < 100.0 * 3 / truth.num_videos + 10


def test_as_uploaded_is_the_file_itself_and_blind_marks_the_view(grouped) -> None:
    assert publish_ground_truth(grouped, query_order=QUERY_ORDER_AS_UPLOADED, secret=None) is grouped
    blind = publish_ground_truth(grouped, query_order=QUERY_ORDER_BLIND, secret=SECRET)
    assert blind.blind and not grouped.blind
    with pytest.raises(ValueError, match="unknown query order"):
        publish_ground_truth(grouped, query_order="sorted", secret=SECRET)


def test_blind_top_k_rows_must_name_their_query(grouped) -> None:
    view = publish_dataset(grouped.datasets["DiDeMo"], secret=SECRET).truth
    topk = topk_lists(similarity_matrices(grouped, seed=0)["DiDeMo"], 10)
    with pytest.raises(SubmissionFormatError) as excinfo:
        score_dataset({"topk": topk}, "topk", view, member="DiDeMo-val-predictions.csv", blind=True)
    assert BLIND_TOPK_NEEDS_IDS in str(excinfo.value)


def test_top_k_rows_with_ids_may_come_in_any_order(grouped) -> None:
    view = publish_dataset(grouped.datasets["DiDeMo"], secret=SECRET).truth
    perfect = np.zeros((view.num_queries, view.num_videos), dtype=np.float32)
    perfect[np.arange(view.num_queries), view.query_video] = 1.0
    topk = topk_lists(perfect + np.linspace(0, 0.5, view.num_videos, dtype=np.float32), 10)
    shuffle = np.random.default_rng(0).permutation(view.num_queries)
    csv = "query_id," + ",".join(f"r{i}" for i in range(10)) + "\n"
    csv += "".join(f"{view.query_ids[i]},{','.join(map(str, topk[i]))}\n" for i in shuffle)
    ids, rows = parse_topk_table(csv.encode())
    report = score_dataset({"topk": rows, "query_ids": ids}, "topk", view, member="m", blind=True)
    assert report["t2v"]["R1"] == 100.0


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("qzz,1,2,3,4,5,6,7,8,9,10\n", "which this phase does not have"),
        ("{a},1,2,3,4,5,6,7,8,9,10\n{a},1,2,3,4,5,6,7,8,9,10\n", "on more than one row"),
        ("{a},1,2,3,4,5,6,7,8,9,10\n", "one per query"),
    ],
)
def test_top_k_ids_unknown_repeated_or_missing_are_refused(grouped, csv: str, message: str) -> None:
    view = publish_dataset(grouped.datasets["DiDeMo"], secret=SECRET).truth
    ids, rows = parse_topk_table(csv.format(a=view.query_ids[0]).encode())
    with pytest.raises(SubmissionFormatError, match=message):
        score_dataset({"topk": rows, "query_ids": ids}, "topk", view, member="m", blind=True)


def test_audit_finds_telling_ids_video_order_and_identity(grouped) -> None:
    sorted_audit = audit_dataset(grouped.datasets["MSRVTT"])
    assert sorted_audit.order_follows_videos and sorted_audit.grouped_layout and sorted_audit.leaks
    diagonal = dataset_truth(
        name="DiDeMo", videos=["clip-a", "clip-b"], query_ids=["clip-a", "clip-b"], query_video=[0, 1]
    )
    audit = audit_dataset(diagonal)
    assert audit.identity and audit.ids_equal_video == 2
    assert any("R@1 = 100" in finding for finding in audit.findings())
    contained = dataset_truth(
        name="MSVD", videos=["vid001", "vid002"], query_ids=["vid002#0", "vid001#0"], query_video=[1, 0]
    )
    assert audit_dataset(contained).ids_contain_video == 2


def test_audit_of_the_published_view_finds_nothing(grouped) -> None:
    for name, truth in grouped.datasets.items():
        view = publish_dataset(truth, secret=SECRET).truth
        assert not audit_dataset(view).leaks, name
