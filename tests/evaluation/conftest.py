import numpy as np
import pytest

from evaluation.ground_truth import write_ground_truth
from evaluation.synthetic import pentathlon_ground_truth, similarity_matrices


@pytest.fixture
def tiny_truth():
    return pentathlon_ground_truth(phase="val", scale="tiny")


@pytest.fixture
def tiny_truth_path(tmp_path, tiny_truth):
    path = tmp_path / "gt.h5"
    write_ground_truth(path, tiny_truth)
    return path


@pytest.fixture
def tiny_matrices(tiny_truth):
    return similarity_matrices(tiny_truth, noise=0.5)


@pytest.fixture
def one_matrix(tiny_truth):
    """A valid DiDeMo-only matrix, the smallest building block of bad-input cases."""
    truth = tiny_truth.datasets["DiDeMo"]
    rng = np.random.default_rng(0)
    return rng.standard_normal((truth.num_queries, truth.num_videos)).astype(np.float32)
