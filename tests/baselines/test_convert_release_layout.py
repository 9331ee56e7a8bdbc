"""The converter on the real CVPR 2020 challenge release layout of all five datasets.

The file names below are those of the release archives (github albanie/collaborative-experts,
`misc/cvpr2020_challenge/datasets/<dataset>/challenge-release-{1,2}/tar_include.txt`); the fixtures
write small pickles there, some as the reference's `utils.datastructures.ExpertStore` (float16), and
the converter runs with its defaults: no expert paths, no text files given.
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from baselines.config import load_config
from baselines.convert import VIDEO_ID_MAP_UNMATCHED, convert_release, orient_video_id_map
from baselines.store import ExpertStore, split_truth

I3D = "aggregated_i3d_25fps_256px_stride25_offset0_inner_stride1/i3d-avg.pickle"
R2P1D = "aggregated_r2p1d_30fps_256px_stride32_offset0_inner_stride1/r2p1d-ig65m-avg.pickle"
R2P1D_KINETICS = "aggregated_r2p1d_30fps_256px_stride32_offset0_inner_stride1/r2p1d-ig65m-kinetics-avg.pickle"
IMAGENET = "aggregated_imagenet_25fps_256px_stride1_offset0"
SCENE = "aggregated_scene_25fps_256px_stride1_offset0/densenet161-avg.pickle"

# Release-1 video feature files of each dataset's configured experts (tar_include.txt).
RELEASE_FILES: dict[str, dict[str, str]] = {
    "MSRVTT": {
        "imagenet.resnext101_32x48d.0": f"{IMAGENET}/resnext101_32x48d-avg.pickle",
        "imagenet.senet154.0": f"{IMAGENET}/senet154-avg.pickle",
        "scene.densenet161.0": SCENE,
        "r2p1d.r2p1d-ig65m.0": R2P1D,
        "i3d.i3d.0": I3D,
        "face": "aggregated_face_feats/facefeats-avg.pickle",
        "ocr": "aggregated_ocr_feats/ocr-raw.pickle",
        "audio": "aggregated_audio_feats/Audio_MSRVTT_new.pickle",
        "speech": "aggregated_speech/speech-w2v.pickle",
    },
    "MSVD": {
        "imagenet.resnext101_32x48d.0": f"{IMAGENET}/resnext101_32x48d-avg.pickle",
        "imagenet.senet154.0": f"{IMAGENET}/senet154-avg.pickle",
        "scene.densenet161.0": SCENE,
        "r2p1d.r2p1d-ig65m.0": R2P1D,
        "i3d.i3d.0": I3D,
        "face": "aggregated_face_feats/face-avg.pickle",
        "ocr": "aggregated_ocr_feats/ocr-w2v.pickle",
    },
    "DiDeMo": {
        "imagenet.resnext101_32x48d.0": f"{IMAGENET}/resnext101_32x48d-avg.pickle",
        "imagenet.senet154.0": f"{IMAGENET}/senet154-avg.pickle",
        "scene.densenet161.0": SCENE,
        "r2p1d.r2p1d-ig65m.0": R2P1D,
        "i3d.i3d.0": I3D,
        "face": "aggregated_facefeats_25fps_256px_stride1/face-avg.pickle",
        "ocr": "aggregated_ocr_feats/ocr-feats.pkl",
        "audio": "aggregated_audio_feats/vggish-audio-raw.pickle",
        "speech": "aggregated_speech_feats/stt_w2v.pickle",
    },
    "ActivityNet": {  # the release has no DenseNet-161 (scene) features
        "imagenet.resnext101_32x48d.0": f"{IMAGENET}/resnext101_32x48d-avg.pickle",
        "imagenet.senet154.0": f"{IMAGENET}/senet154-avg.pickle",
        "r2p1d.r2p1d-ig65m.0": R2P1D,
        "i3d.i3d.0": I3D,
        "face": "aggregated_facefeats_25fps_256px_stride1/face-avg.pickle",
        "ocr": "aggregated_ocr_feats/ocr-w2v.pkl",
        "audio": "aggregated_audio/vggish-audio-raw.pickle",
        "speech": "aggregated_speech/goog_w2v-speech-raw.pickle",
    },
    "YouCook2": {  # frame-level features sampled with stride 5
        "imagenet.resnext101_32x48d.0": "aggregated_imagenet_25fps_256px_stride5_offset0/resnext101_32x48d-avg.pickle",
        "imagenet.senet154.0": "aggregated_imagenet_25fps_256px_stride5_offset0/senet154-avg.pickle",
        "r2p1d.r2p1d-ig65m.0": R2P1D,
        "r2p1d.r2p1d-ig65m-kinetics.0": R2P1D_KINETICS,
        "i3d.i3d.0": I3D,
        "ocr": "aggregated_ocr_feats/ocr-w2v.pkl",
    },
}
TEXT_FILES = {  # in both releases
    "MSRVTT": ["bertxl.pickle", "openai.pickle", "w2v.pickle"],
    "MSVD": ["openai.pkl", "w2v.pkl"],
    "DiDeMo": ["openai.pkl"],
    "ActivityNet": ["openai.pkl"],
    "YouCook2": ["openai.pkl", "w2v.pkl"],
}
RAW_CAPTIONS = {"ActivityNet": "raw-captions-train-val_1.pkl"}  # the others: raw-captions.pkl
FUSED = ("DiDeMo", "ActivityNet")
VARIABLE = ("ocr", "audio", "speech")
SPLITS = {"train_list.txt": 4, "val_list.txt": 2, "public_server_val.txt": 2}


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(obj, handle, protocol=2)


def _reference_expert_store(features: dict[str, np.ndarray], dim: int):
    """An object pickled exactly as the reference's `utils.datastructures.ExpertStore` (float16)."""
    package, module = types.ModuleType("utils"), types.ModuleType("utils.datastructures")
    cls = type("ExpertStore", (), {"__module__": "utils.datastructures"})
    module.ExpertStore = cls
    package.datastructures = module
    sys.modules.update({"utils": package, "utils.datastructures": module})
    store = cls()
    store.keys = list(features)
    store.dim = dim
    store.store_dtype = np.float16
    store.store = np.stack([np.asarray(v, np.float16).reshape(dim) for v in features.values()])
    store.keymap = {k: i for i, k in enumerate(features)}
    store.missing = set()
    return store


def _tokens(rng: np.random.Generator, n: int) -> list[str]:
    words = ["a", "man", "is", "cooking", "pasta", "in", "the", "kitchen", "dog", "runs"]
    return [words[i] for i in rng.integers(0, len(words), n)]


def build_release(root: Path, dataset: str, seed: int = 0) -> dict[str, list[str]]:
    """Write a miniature challenge release of `dataset` under root/challenge-release-{1,2}.

    Returns video id -> raw caption strings (what the store's caption text must say).
    """
    rng = np.random.default_rng(seed)
    r1, r2 = root / "challenge-release-1", root / "challenge-release-2"
    videos, start = {}, 0
    for name, count in {**SPLITS, "public_server_test.txt": 2}.items():
        ids = [f"v{dataset.lower()}{start + i}" for i in range(count)]
        start += count
        target = r2 if name == "public_server_test.txt" else r1
        target.mkdir(parents=True, exist_ok=True)
        (target / name).write_text("\n".join(ids) + "\n")
        videos[name] = ids
    every = [v for ids in videos.values() for v in ids]
    for i, (key, relative) in enumerate(RELEASE_FILES[dataset].items()):
        dim = 6 + i
        if key in VARIABLE:
            values = {
                v: rng.standard_normal((2 + j % 3, dim)).astype(np.float32) for j, v in enumerate(every)
            }
            values[every[1]] = float("nan")  # missing for one video
            _dump(r1 / relative, values)
        elif key == "i3d.i3d.0":  # the reference's own ExpertStore pickle
            features = {v: rng.standard_normal(dim) for v in every}
            saved = {name: sys.modules.get(name) for name in ("utils", "utils.datastructures")}
            try:
                _dump(r1 / relative, _reference_expert_store(features, dim))
            finally:  # the converter must not need the class
                for name, previous in saved.items():
                    if previous is None:
                        sys.modules.pop(name, None)
                    else:
                        sys.modules[name] = previous
        else:
            _dump(r1 / relative, {v: rng.standard_normal((1, dim)).astype(np.float32) for v in every})
    captions = {v: 1 + j % 2 for j, v in enumerate(every)}  # sentences (fused) or captions per video
    raw = {v: [_tokens(rng, 3 + k) for k in range(n)] for v, n in captions.items()}
    for release, ids in ((r1, every[:-2]), (r2, every[-2:])):
        for k, name in enumerate(TEXT_FILES[dataset]):
            feats = {
                v: [rng.standard_normal((len(t), 8 + k)).astype(np.float32) for t in raw[v]] for v in ids
            }
            _dump(release / "aggregated_text_feats" / name, feats)
        _dump(release / RAW_CAPTIONS.get(dataset, "raw-captions.pkl"), {v: raw[v] for v in ids})
    joined = {v: [" ".join(t) for t in sentences] for v, sentences in raw.items()}
    return {v: [" ".join(s)] for v, s in joined.items()} if dataset in FUSED else joined


@pytest.mark.parametrize("dataset", list(RELEASE_FILES))
def test_every_dataset_converts_from_its_release_layout_with_the_defaults(tmp_path, dataset):
    expected_text = build_release(tmp_path, dataset)
    path = convert_release(
        dataset=dataset,
        release_dir=tmp_path / "challenge-release-1",
        test_release_dir=tmp_path / "challenge-release-2",
        out_dir=tmp_path / "out",
        trust_pickles=True,
    )
    config = load_config(dataset, "ce")
    with ExpertStore(path) as store:
        # the configured experts are exactly the release's (ActivityNet has no DenseNet-161)
        assert set(store.experts) == set(config["data"]["experts"]) == set(RELEASE_FILES[dataset])
        # every text encoder of the release is converted, not only openai
        assert set(store.text_dims) == {Path(f).stem for f in TEXT_FILES[dataset]}
        # TeachText's teachers are encoders the release has (DiDeMo, ActivityNet: openai only)
        assert set(load_config(dataset, "teachtext")["distil"]["teachers"]) <= set(store.text_dims)
        # the reference ExpertStore pickle (float16) is read
        i3d, available = store.read_expert("i3d.i3d.0", np.arange(len(store.video_ids)))
        assert available.all() and np.abs(i3d).sum() > 0
        if "ocr" in store.experts:
            assert store.read_expert("ocr", np.array([1]))[1].tolist() == [False], (
                "NaN marks a missing expert"
            )
        # the raw captions are the caption text, tokens joined with spaces
        assert store.caption_text == tuple(t for v in store.video_ids for t in expected_text[v])
        assert store.fused_captions == (dataset in FUSED)
    truth = split_truth(path, "test")
    assert truth.query_text is not None and len(truth.query_text) == len(truth.query_ids)
    # The release's captions, public, written beside the store for the caption audit of a phase.
    from baselines.store import annotations_path
    from evaluation.caption_audit import audit_captions, read_annotations
    from evaluation.ground_truth import GroundTruth

    with open(annotations_path(tmp_path / "out", dataset), "rb") as table:
        rows = list(read_annotations(table))
    assert {(r.dataset, r.video_id) for r in rows} <= {(truth.name, v) for v in store.video_ids}
    assert len(rows) == len(store.caption_ids)
    audit = audit_captions(GroundTruth(challenge="c", phase="test", datasets={truth.name: truth}), rows)
    assert audit[truth.name]["found"] == audit[truth.name]["with_text"] == truth.num_queries


def test_msvd_full_release_text_one_file_per_split_keyed_by_youtube_ids(tmp_path):
    """MSVD's full release: openai-caption-{train,val,test}.pkl keyed by YouTube ids, and
    dict_youtube_mapping.pkl mapping video ids to YouTube ids (the reference inverts it)."""
    root = tmp_path / "MSVD"
    root.mkdir()
    rng = np.random.default_rng(3)
    splits = {"train_list.txt": ["vid1", "vid2"], "val_list.txt": ["vid3"], "test_list.txt": ["vid4"]}
    for name, ids in splits.items():
        (root / name).write_text("\n".join(ids) + "\n")
    youtube = {f"vid{i}": f"yt-{i:03d}_{i * 7}" for i in range(1, 5)}
    _dump(root / "dict_youtube_mapping.pkl", youtube)
    _dump(root / I3D, {v: rng.standard_normal((1, 5)) for v in youtube})
    for split, ids in (("train", ["vid1", "vid2"]), ("val", ["vid3"]), ("test", ["vid4"])):
        _dump(
            root / f"aggregated_text_feats/openai-caption-{split}.pkl",
            {youtube[v]: [rng.standard_normal((3, 8)), rng.standard_normal((2, 8))] for v in ids},
        )
    path = convert_release(
        dataset="MSVD",
        release_dir=root,
        out_dir=tmp_path / "out",
        trust_pickles=True,
        experts=["i3d.i3d.0"],
        splits={"train": "train_list.txt", "dev": "val_list.txt", "test": "test_list.txt"},
        video_id_map=root / "dict_youtube_mapping.pkl",
    )
    with ExpertStore(path) as store:
        assert store.video_ids == ("vid1", "vid2", "vid3", "vid4")
        assert set(store.text_dims) == {"openai"} and len(store.caption_ids) == 8
        assert store.caption_text is None, "this layout ships no raw-captions.pkl"
    from baselines.store import annotations_path

    assert not annotations_path(tmp_path / "out", "MSVD").exists(), "no captions, no annotations table"


def test_the_video_id_map_is_used_whichever_way_round_it_is_stored():
    forward = {"yt-a": "vid1", "yt-b": "vid2"}
    assert orient_video_id_map(forward, {"yt-a", "yt-b"}) == forward
    assert orient_video_id_map({"vid1": "yt-a", "vid2": "yt-b"}, {"yt-a", "yt-b"}) == forward
    with pytest.raises(ValueError, match="matches neither way"):
        orient_video_id_map({"x": "y"}, {"yt-a"}, path="map.pkl")
    assert "dict_youtube_mapping.pkl" in VIDEO_ID_MAP_UNMATCHED


def test_the_cli_takes_several_text_files_per_encoder(tmp_path):
    from baselines.__main__ import _pair_lists

    got = _pair_lists(["openai=a.pkl", "w2v=c.pkl", "openai=b.pkl"], "--text")
    assert got == {"openai": ["a.pkl", "b.pkl"], "w2v": ["c.pkl"]}
