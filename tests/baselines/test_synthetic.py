"""Synthetic stores: determinism, and the structure that makes the baselines' ordering earned."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from baselines.store import ExpertStore, store_path
from baselines.synthetic import generate_dataset


def _arrays(path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(
            lambda name, node: out.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset) else None
        )
    return out


def test_same_seed_same_store_other_seed_other_store(tmp_path):
    a = _arrays(generate_dataset(tmp_path / "a", "MSVD", scale="tiny", seed=5))
    b = _arrays(generate_dataset(tmp_path / "b", "MSVD", scale="tiny", seed=5))
    c = _arrays(generate_dataset(tmp_path / "c", "MSVD", scale="tiny", seed=6))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(
        a["experts/imagenet.senet154.0/features"], c["experts/imagenet.senet154.0/features"]
    )


def test_flaky_experts_exist_exactly_when_their_content_does(tiny_store_dir):
    with h5py.File(store_path(tiny_store_dir, "MSRVTT"), "r") as h5:
        hidden = {k: h5["hidden"][k][()] for k in h5["hidden"]}
        speech = h5["experts/speech/available"][()].astype(bool)
        face = h5["experts/face/available"][()].astype(bool)
    assert np.array_equal(speech, hidden["present_speech"])
    assert not (face & ~hidden["present_people"]).any(), "no face without people"


def _ridge_r2(x: np.ndarray, y: np.ndarray) -> float:
    """Held-out R^2 of a ridge regression from x to y (half the rows to fit, half to test)."""
    x = np.c_[x, np.ones(len(x))]
    half = len(x) // 2
    w = np.linalg.solve(x[:half].T @ x[:half] + 1.0 * np.eye(x.shape[1]), x[:half].T @ y[:half])
    residual = y[half:] - x[half:] @ w
    return 1 - float((residual**2).sum() / ((y[half:] - y[half:].mean(0)) ** 2).sum())


@pytest.mark.slow
def test_the_recording_condition_is_visible_to_other_experts_only(tmp_path):
    """A corrupted expert cannot see its own corruption (linearly); the scene expert can."""
    path = generate_dataset(tmp_path, "YouCook2", scale="tiny", seed=1)
    with h5py.File(path, "r") as h5:
        condition = h5["hidden/condition"][()]
        senet = h5["experts/imagenet.senet154.0/features"][()].astype(np.float64)
        densenet = h5["experts/scene.densenet161.0/features"][()].astype(np.float64)
    dark = (condition == 1).astype(np.float64)[:, None]

    # Few videos, many dimensions: project to a handful of principal directions first.
    def reduce(x):
        x = x - x.mean(0)
        return x @ np.linalg.svd(x, full_matrices=False)[2][:12].T

    assert _ridge_r2(reduce(densenet), dark) > 0.5
    assert _ridge_r2(reduce(senet), dark) < 0.2


@pytest.mark.parametrize("encoder", ["openai", "w2v"])
def test_captions_are_noisy_functions_of_their_video(tiny_store_dir, encoder):
    """Mean word vectors of two captions of the same video are closer than those of different videos."""
    with h5py.File(store_path(tiny_store_dir, "MSRVTT"), "r") as h5:
        tokens = h5[f"text/{encoder}/tokens"][()].astype(np.float64)
        offsets = h5[f"text/{encoder}/offsets"][()]
        video = h5["captions/video"][()]
    means = np.stack([tokens[offsets[i] : offsets[i + 1]].mean(0) for i in range(len(video))])
    means = (means - means.mean(0)) / np.linalg.norm(means - means.mean(0), axis=1, keepdims=True)
    sims = means @ means.T
    same = (video[:, None] == video[None, :]) & ~np.eye(len(video), dtype=bool)
    different = video[:, None] != video[None, :]
    assert sims[same].mean() > sims[different].mean() + 0.1


@pytest.mark.parametrize("dataset", ["MSRVTT", "DiDeMo"])
def test_synthetic_captions_have_plausible_text_that_does_not_name_the_video(
    tiny_store_dir, tmp_path, dataset
):
    with ExpertStore(store_path(tiny_store_dir, dataset)) as store:
        texts, ids = store.caption_text, store.caption_ids
    assert texts is not None and len(texts) == len(ids)
    for text, caption_id in zip(texts, ids, strict=True):
        video_id = caption_id.split("#")[0]
        assert video_id not in text and video_id.split("_")[-1] not in text
        assert text[0].isupper() and text.endswith(".") and 3 <= len(text.split()) <= 80
    assert len(set(texts)) > len(texts) // 3, "captions vary"
    if dataset == "DiDeMo":
        several = sum(text.count(". ") >= 1 for text in texts)
        assert several > len(texts) // 2, "paragraph captions have several sentences (unless truncated)"
    again = generate_dataset(tmp_path, dataset, scale="tiny", seed=0)
    with ExpertStore(again) as store:
        assert store.caption_text == texts, "deterministic from the seed"
