"""Relevance metrics by enumeration: the mean over every order of the tied items (tiny rows only)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations, product

import numpy as np

from evaluation.metrics.registry import metric


def orders(scores: Sequence[float]) -> list[list[int]]:
    """Every ranking of the items by descending score, tied items in every order."""
    scores = np.asarray(scores, dtype=np.float64)
    groups = [np.flatnonzero(scores == level).tolist() for level in np.unique(scores)[::-1]]
    return [[i for part in choice for i in part] for choice in product(*(permutations(g) for g in groups))]


def value_of_ranking(ranking: Sequence[int], grades: Sequence[float], key: str) -> float:
    """One metric of one ranking (`grades`: one per item, 0 = not relevant), straight from its definition."""
    grades = np.asarray(grades, dtype=np.float64)
    spec = metric(key)
    gain = grades[list(ranking)]
    rel = gain > 0
    total = int((grades > 0).sum())
    cutoff = spec.cutoff or len(ranking)
    if spec.family == "mAP":
        precision = np.cumsum(rel) / np.arange(1, rel.size + 1)
        return float((precision * rel)[:cutoff].sum() / total)
    if spec.family == "RPrec":
        return float(rel[:total].sum() / total)
    if spec.family == "Recall":
        return float(rel[:cutoff].sum() / total)
    if spec.family == "nDCG":
        discount = 1.0 / np.log2(np.arange(2, len(ranking) + 2))
        ideal = np.sort(grades)[::-1]
        return float((gain * discount)[:cutoff].sum() / (ideal * discount)[:cutoff].sum())
    raise KeyError(key)


def expected(scores: Sequence[float], grades: Sequence[float], key: str) -> float:
    """`value_of_ranking` averaged over every order of the tied items."""
    return float(np.mean([value_of_ranking(r, grades, key) for r in orders(scores)]))
