"""Cross-modal distillation from captions (CE+ and TeachText-CE+ with caption distillation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines import pipeline, train
from baselines.config import MODELS, load_config, teacher_config, training_optim
from baselines.data import expert_specs, load_split
from baselines.losses import caption_distillation_loss, max_margin_ranking_loss
from baselines.models import TextEmbedding, build_model, caption_similarity, sharded_similarity
from baselines.store import ExpertStore, store_path

from .conftest import TINY_OVERRIDES, tiny_config


def test_the_caption_similarity_by_hand_with_the_pairs_weights():
    # Three captions (caption i belongs to video i), two experts; video 2 lacks expert 2.
    text = TextEmbedding(
        [
            torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]),
            torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.8, 0.6]]),
        ],
        torch.tensor([[0.25, 0.75], [0.5, 0.5], [0.9, 0.1]]),
    )
    available = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    # expert 1 <u_i, u_j>: [[1, .6, 0], [.6, 1, .8], [0, .8, 1]]; expert 2: [[1, 0, .6], [0, 1, .8], [.6, .8, 1]]
    # column 2 (video 2 lacks expert 2) takes expert 1 alone; the others weigh each row's w.
    expected = torch.tensor(
        [
            [0.25 + 0.75, 0.25 * 0.6, 0.0],
            [0.5 * 0.6, 1.0, 0.8],
            [0.0 + 0.1 * 0.6, 0.9 * 0.8 + 0.1 * 0.8, 1.0],
        ]
    )
    assert torch.allclose(caption_similarity(text, available), expected, atol=1e-6)
    with pytest.raises(ValueError, match="one video per caption"):
        caption_similarity(text, available[:2])


def test_the_caption_distillation_loss_is_the_rows_kl_divergence_at_the_temperature():
    sims = torch.tensor([[0.9, 0.1, -0.2], [0.0, 0.5, 0.3], [0.2, 0.2, 0.8]], dtype=torch.float64)
    captions = torch.tensor([[1.0, 0.4, 0.1], [0.4, 1.0, 0.6], [0.1, 0.6, 1.0]], dtype=torch.float64)
    t = 5.0
    expected = 0.0
    for s_row, c_row in zip(sims.tolist(), captions.tolist(), strict=True):
        q = np.exp(np.array(s_row) / t) / np.exp(np.array(s_row) / t).sum()
        p = np.exp(np.array(c_row) / t) / np.exp(np.array(c_row) / t).sum()
        expected += float((p * np.log(p / q)).sum())
    got = caption_distillation_loss(sims, captions, temperature=t)
    assert got.item() == pytest.approx(expected / 3, rel=1e-5)
    assert caption_distillation_loss(captions, captions, temperature=t).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="temperature"):
        caption_distillation_loss(sims, captions, temperature=0.0)


def test_the_crosskd_configs_follow_the_reference():
    """`configs_crosskd/<dataset>-...-cecap.json` / `-ttcap.json`: RAdam lr 0.001, weight decay 1e-5,
    caption weight 1 and temperature 5 / 4 / 7 / 10 (MSRVTT / MSVD / DiDeMo / ActivityNet); the ttcap
    student adds TeachText's term, its teachers are plain CE."""
    assert {"crosskd", "teachtext_crosskd"} <= set(MODELS)
    temperatures = {"MSRVTT": 5.0, "MSVD": 4.0, "DiDeMo": 7.0, "ActivityNet": 10.0, "YouCook2": 5.0}
    for dataset, temperature in temperatures.items():
        cecap, ttcap = load_config(dataset, "crosskd"), load_config(dataset, "teachtext_crosskd")
        for config in (cecap, ttcap):
            assert config["caption_distil"]["temperature"] == temperature
            assert config["caption_distil"]["weight"] == 1.0
            optim = training_optim(config)
            assert (optim["type"], optim["lr"], optim["weight_decay"]) == ("radam", 0.001, 1e-05)
        assert cecap["distil"] is None
        assert ttcap["distil"] == load_config(dataset, "teachtext")["distil"]
        assert teacher_config(ttcap, "openai") == load_config(dataset, "ce"), "the CE baseline is a teacher"


def test_a_training_step_adds_the_caption_term_to_the_ranking_loss(tiny_store_dir):
    path = store_path(tiny_store_dir, "MSRVTT")
    config = tiny_config("MSRVTT", "crosskd")
    with ExpertStore(path) as store:
        specs = expert_specs(store, config)
        data = load_split(store, "train", specs, encoder="openai")
        text_dim = store.text_dims["openai"]
    torch.manual_seed(3)
    student = build_model(config["arch"], specs, text_dim)
    twin = build_model(config["arch"], specs, text_dim)
    twin.load_state_dict(student.state_dict())
    student.train(), twin.train()
    batch = np.array([4, 1, 9, 2, 7, 0])
    captions = data.caption_start[batch]
    cpu = torch.device("cpu")
    loss = train.training_step(
        student,
        torch.optim.SGD(student.parameters(), lr=0.1),
        data,
        batch,
        captions,
        margin=0.1,
        max_tokens=37,
        device=cpu,
        caption_weight=0.5,
        caption_temperature=5.0,
    )
    tokens = data.text.batch(captions, 37, cpu)
    experts, available = data.features.batch(batch, cpu)
    with torch.no_grad():
        text, video = twin.encode_text(tokens), twin.encode_video(experts, available)
    sims = sharded_similarity(text, video)
    ranking = max_margin_ranking_loss(sims, 0.1).item()
    caption = caption_distillation_loss(sims, caption_similarity(text, video.available), 5.0).item()
    assert caption > 1e-6
    assert loss == pytest.approx(ranking + 0.5 * caption, abs=1e-6)


@pytest.mark.slow
def test_crosskd_and_its_teachtext_variant_train_through_train_baseline(tiny_store_dir, tmp_path):
    run = dict(
        store_dir=tiny_store_dir,
        dataset="MSRVTT",
        config_overrides={**TINY_OVERRIDES, "train": {"epochs": 2}},
        checkpoint_dir=tmp_path / "ckpt",
    )
    for model in ("crosskd", "teachtext_crosskd"):
        result = pipeline.train_baseline(model=model, **run)
        assert result.config["model"] == model and result.config["caption_distil"]["temperature"] == 5.0
        assert all(math.isfinite(h["loss"]) for h in result.history)
        assert 0 <= result.best_score <= 100
    kept = sorted(p.name.split("-")[1] for p in (tmp_path / "ckpt").glob("*.pt"))
    assert kept == ["crosskd", "teachtext_crosskd"], "the submitted models only, not the teachers"
    with pytest.raises(ValueError, match="distils from teachers"):
        train.train_model(
            store_path=store_path(tiny_store_dir, "MSRVTT"), config=tiny_config("MSRVTT", "teachtext_crosskd")
        )
