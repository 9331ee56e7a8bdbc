"""The expert-feature store: layout, reading, writing guards and the ground truth derived from it."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from baselines.store import ExpertStore, StoreFormatError, StoreWriter, split_truth, store_path
from baselines.synthetic import EXPERT_DIMS, SPECS, TEXT_DIMS, caption_counts
from evaluation.datasets import PENTATHLON_DATASETS
from evaluation.ground_truth import GroundTruth, read_ground_truth, write_ground_truth


@pytest.mark.parametrize("dataset", PENTATHLON_DATASETS)
def test_tiny_store_has_real_dimensions_splits_and_text(tiny_store_dir, dataset):
    with ExpertStore(store_path(tiny_store_dir, dataset)) as store:
        assert store.dataset == dataset
        assert set(store.splits) == {"train", "dev", "val", "test"}
        assert set(store.experts) == set(SPECS[dataset].experts)
        for key, info in store.experts.items():
            assert info.dim == EXPERT_DIMS[key]
            assert info.variable == (key in ("ocr", "audio", "speech"))
            feats, available = store.read_expert(key, store.split_videos("train"))
            assert feats.dtype == np.float16 and np.isfinite(feats).all()
            assert not feats[~available].any(), "missing experts are stored as zeros"
            if not info.flaky:
                assert available.all()
        assert store.text_dims == TEXT_DIMS
        assert store.fused_captions == (dataset in ("DiDeMo", "ActivityNet"))
        all_videos = np.concatenate([store.split_videos(s) for s in store.splits])
        assert sorted(all_videos.tolist()) == list(range(len(store.video_ids))), "splits partition the videos"


def test_flaky_experts_are_missing_at_realistic_rates(tiny_store_dir):
    with ExpertStore(store_path(tiny_store_dir, "MSRVTT")) as store:
        everything = np.arange(len(store.video_ids))
        rates = {k: store.read_expert(k, everything)[1].mean() for k in ("face", "ocr", "audio", "speech")}
    assert 0.15 < rates["ocr"] < 0.6 and 0.3 < rates["speech"] < 0.75
    assert 0.3 < rates["face"] < 0.8 and rates["audio"] > 0.75


def test_variable_length_experts_have_prefix_masks(tiny_store_dir):
    with h5py.File(store_path(tiny_store_dir, "MSRVTT"), "r") as h5:
        mask = h5["experts/speech/mask"][()].astype(bool)
        available = h5["experts/speech/available"][()].astype(bool)
        feats = h5["experts/speech/features"][()]
    lengths = mask.sum(1)
    assert np.array_equal(mask, np.arange(mask.shape[1]) < lengths[:, None])
    assert (lengths[available] >= 1).all() and (lengths[~available] == 0).all()
    assert not feats[~mask].any()


@pytest.mark.parametrize(
    ("dataset", "split", "videos", "queries", "k"),
    [
        ("MSRVTT", "val", 497, 9940, 20),
        ("MSRVTT", "test", 2990, 59794, 20),
        ("MSVD", "val", 100, 4290, 81),
        ("MSVD", "test", 670, 27763, 81),
        ("DiDeMo", "test", 1004, 1004, 1),
        ("YouCook2", "test", 3310, 3310, 1),
        ("ActivityNet", "val", 1001, 1001, 1),
    ],
)
def test_demo_and_full_scales_use_the_real_split_sizes(dataset, split, videos, queries, k):
    spec = SPECS[dataset]
    for scale in ("demo", "full"):
        assert spec.sizes[scale][split] == (videos, queries)
        counts = caption_counts(spec, scale, videos, queries, np.random.default_rng(0))
        assert len(counts) == videos and counts.sum() == queries and counts.max() == k and counts.min() >= 1
    if (dataset, split) == ("MSRVTT", "test"):
        assert (counts == 19).sum() == 6


def test_split_truth_grouped_layout_for_multi_caption_datasets(tiny_store_dir):
    truth = split_truth(store_path(tiny_store_dir, "MSRVTT"), "test")
    with ExpertStore(store_path(tiny_store_dir, "MSRVTT")) as store:
        videos = store.split_videos("test")
        assert truth.videos == tuple(store.video_ids[v] for v in videos)
        counts = store.caption_count[videos]
        assert truth.query_masks.shape == (len(videos), store.max_captions)
        assert np.array_equal(truth.query_masks.sum(1), counts)
        for qid, owner in zip(truth.query_ids, truth.query_video, strict=True):
            assert qid in store.caption_ids and qid.split("#")[0] == truth.videos[owner]
    assert (counts < store.max_captions).any(), (
        "the tiny MSRVTT test split has a video with a missing caption"
    )


@pytest.mark.parametrize("dataset", ["DiDeMo", "YouCook2", "ActivityNet"])
def test_split_truth_single_caption_datasets_have_no_masks(tiny_store_dir, dataset):
    truth = split_truth(store_path(tiny_store_dir, dataset), "val")
    assert truth.query_masks is None
    assert np.array_equal(truth.query_video, np.arange(truth.num_videos))


def test_split_truth_round_trips_through_the_ground_truth_file(tiny_store_dir, tmp_path):
    truths = {d: split_truth(store_path(tiny_store_dir, d), "test") for d in PENTATHLON_DATASETS}
    write_ground_truth(tmp_path / "gt.h5", GroundTruth(challenge="c", phase="test", datasets=truths))
    back = read_ground_truth(tmp_path / "gt.h5")
    for name, truth in truths.items():
        assert back.datasets[name].query_ids == truth.query_ids
        assert np.array_equal(back.datasets[name].query_video, truth.query_video)


def test_read_text_in_any_order_matches_contiguous_reads(tiny_store_dir):
    with ExpertStore(store_path(tiny_store_dir, "MSVD")) as store:
        captions = np.arange(len(store.caption_ids))
        tokens, offsets = store.read_text("openai", captions)
        pick = np.random.default_rng(0).permutation(captions)[:17]
        got, got_offsets = store.read_text("openai", pick)
    for i, c in enumerate(pick):
        assert np.array_equal(got[got_offsets[i] : got_offsets[i + 1]], tokens[offsets[c] : offsets[c + 1]])


def test_split_captions_can_keep_the_first_caption_only(tiny_store_dir):
    with ExpertStore(store_path(tiny_store_dir, "MSRVTT")) as store:
        first, owner = store.split_captions("dev", max_per_video=1)
        videos = store.split_videos("dev")
        assert np.array_equal(owner, np.arange(len(videos)))
        assert np.array_equal(first, store.caption_start[videos])


def test_writer_rejects_nan_and_bad_masks_and_leaves_no_file(tmp_path):
    path = tmp_path / "MSRVTT.h5"
    with pytest.raises(StoreFormatError, match="non-finite"):
        with StoreWriter(
            path, dataset="msrvtt", videos=["a", "b"], splits={"train": ["a", "b"]}, source="t"
        ) as w:
            w.add_expert(
                "i3d.i3d.0", np.array([[np.nan, 1.0], [1.0, 1.0]]), np.array([True, True]), flaky=False
            )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(StoreFormatError, match="prefix"):
        with StoreWriter(path, dataset="msrvtt", videos=["a"], splits={"train": ["a"]}, source="t") as w:
            w.add_expert("ocr", np.zeros((1, 3, 2)), np.array([True]), flaky=True, mask=np.array([[0, 1, 1]]))
    with pytest.raises(StoreFormatError, match="unknown videos"):
        StoreWriter(path, dataset="msrvtt", videos=["a"], splits={"train": ["a", "zzz"]}, source="t")


def test_a_store_appears_only_once_complete_and_replaces_an_older_one_atomically(tmp_path):
    path = tmp_path / "MSRVTT.h5"
    path.write_bytes(b"older store")
    with StoreWriter(path, dataset="MSRVTT", videos=["a"], splits={"train": ["a"]}, source="t") as w:
        w.add_expert("face", np.ones((1, 2)), np.array([True]), flaky=True)
        assert path.read_bytes() == b"older store", (
            "a reader of the old store keeps it while the new one is written"
        )
        w.set_captions(["a#0"], np.array([0]))
        w.text_writer("w2v", dim=2, lengths=np.array([1])).write([np.ones((1, 2))])
    assert [p.name for p in tmp_path.iterdir()] == ["MSRVTT.h5"]
    with ExpertStore(path) as store:
        assert store.dataset == "MSRVTT"


def test_missing_rows_are_zeroed_even_if_the_input_holds_nan(tmp_path):
    path = tmp_path / "MSRVTT.h5"
    with StoreWriter(
        path, dataset="MSRVTT", videos=["a", "b"], splits={"train": ["b", "a"]}, source="t"
    ) as w:
        w.add_expert("face", np.array([[np.nan, np.nan], [1.0, 2.0]]), np.array([False, True]), flaky=True)
        w.set_captions(["a#0", "b#0", "b#1"], np.array([0, 1, 1]))
        w.text_writer("w2v", dim=2, lengths=np.array([1, 2, 1])).write(
            [np.ones((1, 2)), np.zeros((2, 2)), np.full((1, 2), 3.0)]
        )
    with ExpertStore(path) as store:
        feats, available = store.read_expert("face", store.split_videos("train"))
        assert np.array_equal(feats, np.array([[1, 2], [0, 0]], np.float16))
        assert available.tolist() == [True, False]
        assert store.max_captions == 2
        captions, owner = store.split_captions("train")
        assert [store.caption_ids[c] for c in captions] == ["b#0", "b#1", "a#0"] and owner.tolist() == [
            0,
            0,
            1,
        ]
        assert store.hidden("condition", store.split_videos("train")) is None, (
            "only synthetic stores have hidden variables"
        )


def test_hidden_variables_are_read_in_the_requested_video_order(tiny_store_dir):
    path = store_path(tiny_store_dir, "MSRVTT")
    with h5py.File(path, "r") as h5:
        condition = h5["hidden/condition"][()]
    with ExpertStore(path) as store:
        videos = store.split_videos("test")[::-1]
        assert np.array_equal(store.hidden("condition", videos), condition[videos])
        assert store.hidden("no_such_variable", videos) is None


def test_reader_rejects_files_that_are_not_stores(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as h5:
        h5.attrs["format"] = "something else"
    with pytest.raises(StoreFormatError, match="not a"):
        ExpertStore(tmp_path / "x.h5")
    (tmp_path / "y.h5").write_bytes(b"not hdf5")
    with pytest.raises(StoreFormatError):
        ExpertStore(tmp_path / "y.h5")


def test_caption_text_is_stored_aligned_and_reaches_the_ground_truth(tmp_path):
    path = tmp_path / "MSRVTT.h5"
    with StoreWriter(path, dataset="MSRVTT", videos=["a", "b"], splits={"val": ["b", "a"]}, source="t") as w:
        w.add_expert("face", np.ones((2, 4), np.float16), np.array([True, True]), flaky=True)
        w.set_captions(["a#0", "b#0", "b#1"], np.array([0, 1, 1]), ["a dog runs", "ein Café öffnet", "x"])
        w.text_writer("openai", dim=2, lengths=np.array([1, 1, 1])).write([np.ones((1, 2))] * 3)
    with ExpertStore(path) as store:
        assert store.caption_text == ("a dog runs", "ein Café öffnet", "x")
    truth = split_truth(path, "val")
    assert truth.query_ids == ("b#0", "b#1", "a#0")
    assert truth.query_text == ("ein Café öffnet", "x", "a dog runs"), "in the query order, UTF-8 intact"


def test_a_store_without_caption_text_has_none_and_a_wrong_count_is_refused(tmp_path):
    path = tmp_path / "MSRVTT.h5"
    with StoreWriter(path, dataset="MSRVTT", videos=["a"], splits={"val": ["a"]}, source="t") as w:
        w.add_expert("face", np.ones((1, 4), np.float16), np.array([True]), flaky=True)
        with pytest.raises(StoreFormatError, match="expected exactly one text per caption"):
            w.set_captions(["a#0"], np.array([0]), ["one", "two"])
        w.set_captions(["a#0"], np.array([0]))
        w.text_writer("openai", dim=2, lengths=np.array([1])).write([np.ones((1, 2))])
    with ExpertStore(path) as store:
        assert store.caption_text is None
    assert split_truth(path, "val").query_text is None


def _small_store(path):
    with StoreWriter(path, dataset="MSRVTT", videos=["a", "b"], splits={"val": ["b", "a"]}, source="t") as w:
        w.add_expert("face", np.ones((2, 4), np.float16), np.array([True, True]), flaky=True)
        w.set_captions(["a#0", "b#0"], np.array([0, 1]))
        w.text_writer("openai", dim=2, lengths=np.array([1, 1])).write([np.ones((1, 2))] * 2)
    return path


@pytest.mark.parametrize("kind", ["external-storage", "soft-link", "virtual"])
def test_reader_refuses_a_store_whose_data_lies_outside_it(tmp_path, kind):
    """The HDF5 rule of docs/design.md, section 5 holds for the stores the server trains on."""
    path = _small_store(tmp_path / "MSRVTT.h5")
    with h5py.File(path, "r+") as h5:
        group = h5["experts/face"]
        del group["features"]
        if kind == "external-storage":
            group.create_dataset("features", shape=(2, 4), dtype="f2", external=[("/etc/passwd", 0, 16)])
        elif kind == "soft-link":
            h5.create_dataset("elsewhere", data=np.ones((2, 4), np.float16))
            group["features"] = h5py.SoftLink("/elsewhere")
        else:
            layout = h5py.VirtualLayout(shape=(2, 4), dtype="f2")
            layout[:] = h5py.VirtualSource("/etc/passwd", "x", shape=(2, 4))
            group.create_virtual_dataset("features", layout)
    with pytest.raises(StoreFormatError, match=r"/experts/face/features.*expected") as caught:
        ExpertStore(path)
    assert "root:" not in str(caught.value)
