"""The CE-release converter: refuses pickles without explicit trust, reads the release layout."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest

from baselines.__main__ import main as cli_main
from baselines.convert import (
    PickleRefusedError,
    convert_release,
    default_expert_path,
    load_release_pickle,
)
from baselines.store import ExpertStore, split_truth


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _dump(path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(obj, handle, protocol=2)


@pytest.fixture()
def release(tmp_path):
    """A miniature MSRVTT challenge release: release-1 (features, train/val text) and release-2 (test)."""
    rng = np.random.default_rng(0)
    r1, r2 = tmp_path / "challenge-release-1", tmp_path / "challenge-release-2"
    lists = {
        "train_list.txt": ["video0", "video1", "video2"],
        "val_list.txt": ["video3"],
        "public_server_val.txt": ["video4", "video5"],
    }
    for name, ids in lists.items():
        (r1 / name).parent.mkdir(parents=True, exist_ok=True)
        (r1 / name).write_text("\n".join(ids) + "\n")
    r2.mkdir()
    (r2 / "public_server_test.txt").write_text("video6\nvideo7\n")
    videos = [f"video{i}" for i in range(8)]
    _dump(
        r1 / default_expert_path("MSRVTT", "imagenet.senet154.0"),
        {v: rng.standard_normal((1, 2048)).astype(np.float32) for v in videos},
    )  # (1, D) layout
    _dump(
        r1 / default_expert_path("MSRVTT", "i3d.i3d.0"),
        {v: rng.standard_normal(1024).astype(np.float32) for v in videos},
    )  # (D,) layout
    _dump(
        r1 / default_expert_path("MSRVTT", "face"),
        {v: (float("nan") if i % 2 else rng.standard_normal((1, 512))) for i, v in enumerate(videos)},
    )
    speech = {v: rng.standard_normal((3 + i, 300)).astype(np.float32) for i, v in enumerate(videos)}
    speech["video1"] = float("nan")
    speech["video2"] = np.full((4, 300), np.nan)  # an all-NaN array is missing too
    _dump(r1 / default_expert_path("MSRVTT", "speech"), speech)
    text = {
        v: [rng.standard_normal((2 + k, 768)).astype(np.float32) for k in range(2 if i != 0 else 3)]
        for i, v in enumerate(videos[:6])
    }
    _dump(r1 / "aggregated_text_feats/openai.pickle", text)
    _dump(
        r2 / "aggregated_text_feats/openai.pickle",
        {v: [rng.standard_normal((4, 768)).astype(np.float32)] * 2 for v in videos[6:]},
    )
    return r1, r2


EXPERTS = ["imagenet.senet154.0", "i3d.i3d.0", "face", "speech"]


def test_conversion_refuses_pickles_without_explicit_trust(release, tmp_path):
    r1, r2 = release
    with pytest.raises(PickleRefusedError, match="--trust-pickles"):
        convert_release(dataset="MSRVTT", release_dir=r1, out_dir=tmp_path / "out", experts=EXPERTS)
    with pytest.raises(PickleRefusedError):
        load_release_pickle(r1 / "aggregated_text_feats/openai.pickle", trust_pickles=False)
    assert not (tmp_path / "out").exists()


def test_cli_refusal_is_a_clear_message_and_exit_code(release, tmp_path, capsys):
    r1, _ = release
    code = cli_main(
        ["convert", "--dataset", "MSRVTT", "--release-dir", str(r1), "--out", str(tmp_path / "out")]
    )
    assert code == 2
    assert "refusing to unpickle" in capsys.readouterr().err


def test_even_trusted_pickles_may_only_hold_feature_data(tmp_path):
    _dump(tmp_path / "evil.pickle", {"video0": _Exploit()})
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|refusing"):
        load_release_pickle(tmp_path / "evil.pickle", trust_pickles=True)


def test_legacy_expert_store_pickles_are_read(tmp_path, monkeypatch):
    module = types.ModuleType("datastructures")

    class ExpertStore:  # the shape of CE's legacy class
        pass

    ExpertStore.__module__ = "datastructures"
    ExpertStore.__qualname__ = "ExpertStore"
    module.ExpertStore = ExpertStore
    monkeypatch.setitem(sys.modules, "datastructures", module)
    legacy = ExpertStore()
    legacy.keys = ["a", "b"]
    legacy.keymap = {"a": 0, "b": 1}
    legacy.store = np.array([[1.0, 2.0], [np.nan, np.nan]], dtype=np.float16)
    _dump(tmp_path / "legacy.pickle", legacy)
    monkeypatch.delitem(sys.modules, "datastructures")
    data = load_release_pickle(tmp_path / "legacy.pickle", trust_pickles=True)
    assert np.array_equal(data["a"], [1.0, 2.0]) and np.isnan(data["b"]).all()


def test_trusted_conversion_builds_a_store_with_missing_markers_and_splits(release, tmp_path):
    r1, r2 = release
    path = convert_release(
        dataset="MSRVTT",
        release_dir=r1,
        test_release_dir=r2,
        out_dir=tmp_path / "out",
        trust_pickles=True,
        experts=EXPERTS,
    )
    with ExpertStore(path) as store:
        assert set(store.splits) == {"train", "dev", "val", "test"}
        assert [store.video_ids[v] for v in store.split_videos("test")] == ["video6", "video7"]
        assert store.experts["imagenet.senet154.0"].dim == 2048 and store.experts["speech"].flaky
        everything = np.arange(8)
        _, face = store.read_expert("face", everything)
        assert face.tolist() == [i % 2 == 0 for i in range(8)]
        speech, speech_available = store.read_expert("speech", everything)
        assert speech_available.tolist() == [True, False, False, True, True, True, True, True]
        assert speech.shape[1] == 10 and np.isfinite(speech).all()
        assert store.max_captions == 3 and store.text_dims == {"openai": 768}
        tokens, offsets = store.read_text("openai", np.array([0, 1, 2]))
        assert np.diff(offsets).tolist() == [2, 3, 4]
    truth = split_truth(path, "test")
    assert truth.query_ids == ("video6#0", "video6#1", "video7#0", "video7#1")


def test_fused_datasets_concatenate_sentences_into_one_paragraph(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "r"
    root.mkdir()
    (root / "train_list.txt").write_text("a.mp4\nb.mp4\n")  # DiDeMo ids are cut at the first '.'
    _dump(root / default_expert_path("DiDeMo", "i3d.i3d.0"), {v: rng.standard_normal(1024) for v in "ab"})
    _dump(
        root / "aggregated_text_feats/openai.pkl", {v: [np.ones((2, 768)), np.ones((3, 768))] for v in "ab"}
    )
    path = convert_release(
        dataset="didemo",
        release_dir=root,
        out_dir=tmp_path / "out",
        trust_pickles=True,
        experts=["i3d.i3d.0"],
        splits={"train": "train_list.txt"},
    )
    with ExpertStore(path) as store:
        assert store.fused_captions and store.caption_ids == ("a#0", "b#0")
        assert np.diff(store.read_text("openai", np.array([0, 1]))[1]).tolist() == [5, 5]


def test_missing_feature_files_are_named(release, tmp_path):
    r1, r2 = release
    with pytest.raises(FileNotFoundError, match="densenet161"):
        convert_release(
            dataset="MSRVTT",
            release_dir=r1,
            test_release_dir=r2,
            out_dir=tmp_path / "out",
            trust_pickles=True,
            experts=["scene.densenet161.0"],
        )
