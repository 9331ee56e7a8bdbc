"""The challenge's model choices agree with the evaluation core's metric registry."""

from challenge.models import LOWER_IS_BETTER_METRICS, PrimaryMetric
from evaluation.metrics.registry import LOWER_IS_BETTER, METRIC_KEYS, RELEVANCE_METRIC_KEYS


def test_the_primary_metric_choices_are_the_registered_metrics():
    assert set(PrimaryMetric.values) == set(METRIC_KEYS) | set(RELEVANCE_METRIC_KEYS)
    assert LOWER_IS_BETTER_METRICS == LOWER_IS_BETTER
