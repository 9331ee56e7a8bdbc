"""Retrieval metrics (Collaborative Experts semantics) and their registry."""

from .registry import GEOMETRIC_MEAN_KEY, LOWER_IS_BETTER, METRIC_KEYS, METRICS, Metric, format_number, metric
from .retrieval import (
    DIRECTIONS,
    compact_metrics,
    metrics_from_ranks,
    rank_histogram,
    retrieval_ranks,
    t2v_metrics,
    topk_metrics,
    topk_ranks,
    v2t_metrics,
)

__all__ = [
    "DIRECTIONS",
    "GEOMETRIC_MEAN_KEY",
    "LOWER_IS_BETTER",
    "METRICS",
    "METRIC_KEYS",
    "Metric",
    "compact_metrics",
    "format_number",
    "metric",
    "metrics_from_ranks",
    "rank_histogram",
    "retrieval_ranks",
    "t2v_metrics",
    "topk_metrics",
    "topk_ranks",
    "v2t_metrics",
]
