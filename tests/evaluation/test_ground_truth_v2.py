"""Ground truth version 2: sets of relevant items (graded or not) beside `query_video`, any dataset names."""

import h5py
import numpy as np
import pytest

from evaluation.blinding import publish_dataset
from evaluation.errors import GroundTruthError
from evaluation.ground_truth import GroundTruth, dataset_truth, read_ground_truth, write_ground_truth
from evaluation.metrics.relevance import relevance_metrics


def clips(**extra):
    """Three queries over five clips; clip 4 is a distractor no query asks for."""
    arrays = dict(rel_query=[0, 0, 1, 2, 2], rel_item=[0, 1, 1, 2, 3], rel_grade=[1.0, 0.5, 1.0, 1.0, 0.25])
    arrays.update(extra)
    return dataset_truth(
        name="MyClips", videos=[f"clip{i}" for i in range(5)], query_ids=["a", "b", "c"], **arrays
    )


def test_round_trip_keeps_the_pairs_the_grades_and_the_file_names(tmp_path):
    truth = GroundTruth("Audio retrieval", "val", {"MyClips": clips(), "AudioCaps": clips(rel_grade=None)})
    write_ground_truth(tmp_path / "gt.h5", truth)
    with h5py.File(tmp_path / "gt.h5") as handle:
        assert set(handle["MyClips"]) == {"videos", "query_ids", "rel_query", "rel_item", "rel_grade"}
        assert "rel_grade" not in handle["AudioCaps"]  # all grades 1: the optional array is left out
        assert (
            handle["MyClips/rel_query"].dtype == np.int32 and handle["MyClips/rel_grade"].dtype == np.float32
        )
    back = read_ground_truth(tmp_path / "gt.h5")
    assert list(back.datasets) == ["AudioCaps", "MyClips"]
    mine = back.datasets["MyClips"]
    assert not mine.one_positive and mine.relevance.per_query().tolist() == [2, 1, 2]
    np.testing.assert_array_equal(mine.relevance.grades, [1.0, 0.5, 1.0, 1.0, 0.25])
    assert mine.query_video.tolist() == [0, 1, 2]  # each query's best-graded item
    ordered = read_ground_truth(tmp_path / "gt.h5", datasets=["MyClips", "AudioCaps"])
    assert list(ordered.datasets) == ["MyClips", "AudioCaps"]  # the challenge's order


def test_query_video_files_read_exactly_as_before(tmp_path, tiny_truth_path):
    truth = read_ground_truth(tiny_truth_path)
    assert all(d.one_positive and d.relevance is None for d in truth.datasets.values())


def write(path, name="MyClips", **arrays):
    strings = h5py.string_dtype()
    base = dict(videos=["v0", "v1", "v2"], query_ids=["q0", "q1"])
    base.update(arrays)
    with h5py.File(path, "w") as handle:
        group = handle.create_group(name)
        for key, value in base.items():
            if value is not None:
                group.create_dataset(
                    key, data=value, dtype=strings if key in ("videos", "query_ids") else None
                )


@pytest.mark.parametrize(
    "arrays, message",
    [
        (
            dict(rel_query=np.int32([0, 1]), rel_item=np.int32([0, 3])),
            r"'rel_item' holds indices outside \[0, 3\)",
        ),
        (
            dict(rel_query=np.int32([0, 2]), rel_item=np.int32([0, 1])),
            r"'rel_query' holds indices outside \[0, 2\)",
        ),
        (
            dict(rel_query=np.int32([0, 0, 1]), rel_item=np.int32([1, 1, 2])),
            r"\(query 0, item 1\) appears twice",
        ),
        (dict(rel_query=np.int32([0, 0]), rel_item=np.int32([1, 2])), "1 of 2 queries have no relevant item"),
        (
            dict(rel_query=np.int32([0, 1]), rel_item=np.int32([1, 2]), rel_grade=np.float32([1.0, 1.5])),
            r"values outside \(0, 1\]",
        ),
        (
            dict(rel_query=np.int32([0, 1]), rel_item=np.int32([1, 2]), rel_grade=np.array([b"x", b"y"])),
            "malformed 'rel_grade'",
        ),
        (dict(rel_query=np.int32([0, 1])), "malformed 'rel_item'"),
        (
            dict(rel_query=np.int32([0, 1]), rel_item=np.int32([1, 2]), query_video=np.int32([0, 1])),
            "holds both 'query_video' and 'rel_query'/'rel_item'",
        ),
        (
            dict(
                rel_query=np.int32([0, 1]), rel_item=np.int32([1, 2]), query_masks=np.uint8([[1], [1], [0]])
            ),
            "'query_masks' applies to 'query_video' only",
        ),
        (dict(), "missing or malformed 'query_video'"),
    ],
)
def test_invalid_version_2_files_are_refused_with_a_sentence(tmp_path, arrays, message):
    write(tmp_path / "gt.h5", **arrays)
    with pytest.raises(GroundTruthError, match=rf"dataset MyClips, file gt\.h5: .*{message}"):
        read_ground_truth(tmp_path / "gt.h5")


def test_the_challenges_names_decide_which_groups_are_accepted(tmp_path):
    write(tmp_path / "gt.h5", rel_query=np.int32([0, 1]), rel_item=np.int32([1, 2]))
    assert list(read_ground_truth(tmp_path / "gt.h5", datasets=["myclips"]).datasets) == ["myclips"]
    with pytest.raises(GroundTruthError, match="unknown dataset name 'MyClips'; expected one of Clotho"):
        read_ground_truth(tmp_path / "gt.h5", datasets=["Clotho"])


@pytest.mark.parametrize("name", ["x" * 65, " padded"])
def test_unusable_group_names_are_refused(tmp_path, name):
    write(tmp_path / "gt.h5", name=name, rel_query=np.int32([0, 1]), rel_item=np.int32([1, 2]))
    with pytest.raises(GroundTruthError, match="is not usable; expected 1 to 64 printable characters"):
        read_ground_truth(tmp_path / "gt.h5")


def test_a_blind_phase_carries_the_relevance_with_its_queries():
    truth = clips()
    published = publish_dataset(truth, secret=b"s" * 32)
    blind, source = published.truth, published.source_rows
    for row, query in enumerate(source):  # published row i is the organiser's query source[i]
        lo, hi = truth.relevance.indptr[query], truth.relevance.indptr[query + 1]
        b_lo, b_hi = blind.relevance.indptr[row], blind.relevance.indptr[row + 1]
        assert blind.relevance.items[b_lo:b_hi].tolist() == truth.relevance.items[lo:hi].tolist()
        assert blind.relevance.grades[b_lo:b_hi].tolist() == truth.relevance.grades[lo:hi].tolist()
    sims = np.random.default_rng(0).standard_normal((3, 5))
    keys = ["mAP", "nDCG", "RPrec"]
    got = relevance_metrics(sims[source], blind.relevance, metrics=keys)
    want = relevance_metrics(sims, truth.relevance, metrics=keys)
    for direction in ("t2v", "v2t"):
        assert got[direction] == pytest.approx(want[direction], abs=1e-12)
