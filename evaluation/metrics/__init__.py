"""Retrieval metrics (Collaborative Experts semantics)."""

from .retrieval import (
    DIRECTIONS,
    GEOMETRIC_MEAN_KEY,
    METRIC_KEYS,
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
    "METRIC_KEYS",
    "compact_metrics",
    "metrics_from_ranks",
    "rank_histogram",
    "retrieval_ranks",
    "t2v_metrics",
    "topk_metrics",
    "topk_ranks",
    "v2t_metrics",
]
