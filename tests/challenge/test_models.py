"""The challenge's model choices agree with the evaluation core's metric registry."""

from challenge.models import LOWER_IS_BETTER_METRICS, Challenge, PrimaryMetric
from evaluation.metrics.registry import LOWER_IS_BETTER, METRIC_KEYS, RELEVANCE_METRIC_KEYS


def test_the_primary_metric_choices_are_the_registered_metrics():
    assert set(PrimaryMetric.values) == set(METRIC_KEYS) | set(RELEVANCE_METRIC_KEYS)
    assert LOWER_IS_BETTER_METRICS == LOWER_IS_BETTER


def test_a_challenge_has_its_primary_metric_s_direction():
    for value in PrimaryMetric.values:
        assert Challenge(primary_metric=value).higher_is_better is (value not in LOWER_IS_BETTER)
    assert Challenge(primary_metric=PrimaryMetric.MEDR).higher_is_better is False
