"""Scoring inside the baselines: the evaluation core, without side effects on torch."""

from __future__ import annotations

import numpy as np
import torch

from baselines.predict import metrics_from_similarities
from evaluation.metrics import compact_metrics


def test_scoring_leaves_the_torch_thread_count_alone():
    rng = np.random.default_rng(0)
    sims = rng.standard_normal((512, 128)).astype(np.float32)
    owner = np.arange(512) % 128
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        metrics = metrics_from_similarities(sims, owner)
        assert torch.get_num_threads() == 1, "numba's OpenMP launch must not change torch's thread count"
    finally:
        torch.set_num_threads(threads)
    assert metrics == compact_metrics(sims, owner)
