"""Shared fixtures: tiny synthetic stores for the five datasets and a small, fast model config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from baselines.config import load_config, merge
from baselines.synthetic import generate

# Small enough to train in seconds on one core, large enough to learn the tiny stores.
TINY_OVERRIDES: dict[str, Any] = {
    "arch": {"ce_shared_dim": 32, "moee_dim_scale": 0.03, "text_clusters": 4, "text_ghosts": 1},
    "data": {"vlad_clusters": {"ocr": 2, "audio": 2, "speech": 2}},
    "optim": {"type": "ranger", "lr": 0.01, "weight_decay": 1e-4},
    "train": {"epochs": 8, "batch_size": 16},
}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models are latency-bound: a second intra-op thread only adds synchronisation, and on a shared
    machine a descheduled thread stalls every small op. Module-scoped so that module fixtures (trained models) get it; restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stores")
    generate(out, scale="tiny", seed=0)
    return out


def tiny_config(dataset: str = "MSRVTT", model: str = "ce", **extra: Any) -> dict[str, Any]:
    """The dataset's config with the tiny overrides (and `extra`, merged last)."""
    return load_config(dataset, model, overrides=merge(TINY_OVERRIDES, extra))
