"""Model cards beside the kept baseline checkpoints."""

from __future__ import annotations

import json
import shutil

import pytest

from baselines import pipeline
from baselines.card import card_path, source_commit
from baselines.config import load_config
from baselines.store import store_path
from baselines.train import checkpoint_path

from .conftest import TINY_OVERRIDES


@pytest.mark.slow
def test_train_baseline_writes_a_model_card_beside_the_checkpoint_it_keeps(tiny_store_dir, tmp_path):
    store_dir = tmp_path / "stores"
    store_dir.mkdir()
    shutil.copy(store_path(tiny_store_dir, "DiDeMo"), store_dir)
    overrides = {**TINY_OVERRIDES, "train": {"epochs": 2}}
    run = dict(
        store_dir=store_dir, dataset="DiDeMo", config_overrides=overrides, checkpoint_dir=tmp_path / "ckpt"
    )
    result = pipeline.train_baseline(model="teachtext", seed=3, **run)
    config = load_config("DiDeMo", "teachtext", overrides=overrides)
    checkpoint = checkpoint_path(tmp_path / "ckpt", config=config, seed=3, store_path=store_dir / "DiDeMo.h5")
    card = card_path(checkpoint)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == sorted([checkpoint.name, card.name])
    written = json.loads(card.read_text())
    assert (written["model"], written["dataset"], written["seed"]) == ("teachtext", "DiDeMo", 3)
    assert written["checkpoint"] == checkpoint.name and written["config"] == config
    assert written["overrides"] == overrides and written["teachers"] == ["openai"]
    data = written["data"]
    assert data["store"] == str((store_dir / "DiDeMo.h5").resolve())
    assert data["size"] == (store_dir / "DiDeMo.h5").stat().st_size and data["source"]
    assert data["text_encoder"] == "openai" and data["experts"] == config["data"]["experts"]
    assert data["videos"]["train"] > 0 and data["videos"]["dev"] > 0
    scores = written["scores"]
    assert scores["selection_split"] == "dev" and scores["best_epoch"] == result.best_epoch
    assert scores["best_score"] == result.best_score and len(scores["epochs"]) == 2
    assert scores["epochs"][result.best_epoch]["val_geometric_mean_R1-R5-R10"] == result.best_score
    commit = written["commit"]
    assert commit == source_commit() and len(commit["sha"]) == 40, "the tests run in a git checkout"

    card.unlink()
    again = pipeline.train_baseline(model="teachtext", seed=3, **run)
    assert again.best_score == result.best_score and card.exists(), "a lost card is written again"
    assert json.loads(card.read_text())["scores"]["epochs"] == [], "the kept file has no per-epoch record"


def test_source_commit_outside_a_git_checkout(tmp_path):
    assert source_commit(tmp_path)["sha"] is None
