"""A matrix with NaN at a ground-truth position is rejected with a readable error and no numpy warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from evaluation.errors import SubmissionFormatError
from evaluation.metrics.retrieval import retrieval_ranks


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_ground_truth_value_is_rejected_without_runtime_warning(bad):
    sims = np.random.default_rng(0).random((4, 2))
    sims[0, 0] = bad  # row 0's ground-truth column: reaches the per-video maximum of own scores
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SubmissionFormatError, match="NaN or infinite"):
            retrieval_ranks(sims, np.array([0, 0, 1, 1]), backend="numpy")
