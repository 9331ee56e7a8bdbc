"""The metric registry and the one number formatter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.metrics import METRIC_KEYS, METRICS, format_number, metric, t2v_metrics
from evaluation.metrics.registry import GEOMETRIC_MEAN_KEY, LOWER_IS_BETTER, MISSING


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (78.125, 2, "78.12"),  # the half goes to the even digit, not up (floatformat said 78.13)
        (78.135, 2, "78.14"),
        (2.675, 2, "2.68"),  # the decimal the float reads as, not its binary expansion (f-format: 2.67)
        (0.5, 0, "0"),
        (1.5, 0, "2"),
        (3, 2, "3.00"),
        (-0.001, 2, "0.00"),  # never "-0.00"
        (12.3456789, 4, "12.3457"),
        (1e20, 1, "100000000000000000000.0"),
    ],
)
def test_format_number_rounds_half_to_even_on_the_decimal_value(value, decimals, expected):
    assert format_number(value, decimals) == expected


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
def test_missing_and_non_finite_values_print_as_the_missing_mark(value):
    assert format_number(value, 2) == MISSING
    assert format_number(value, 2, missing="") == ""


def test_the_registry_names_exactly_the_scorers_keys_in_order():
    sims = np.random.default_rng(0).standard_normal((20, 10)).astype(np.float32)
    assert tuple(t2v_metrics(sims)) == METRIC_KEYS == tuple(m.key for m in METRICS)
    assert METRIC_KEYS[-1] == GEOMETRIC_MEAN_KEY and metric(GEOMETRIC_MEAN_KEY).label == "Geom"
    assert LOWER_IS_BETTER == {"MedR", "MeanR"}
    assert len({m.label for m in METRICS}) == len(METRICS)
    with pytest.raises(KeyError):
        metric("R2")
