"""The one list of retrieval metrics and the one number formatter (docs/design.md section 4).

Every place that names, orders or prints a metric (the scorer's JSON, the site's pages, CSV and JSON
exports, charts, both CLIs) reads it from here, so a column is labelled and a value rounded the same
way everywhere. Pure Python: the participants' CLI imports it without Django.

>>> [m.key for m in METRICS][:3]
['R1', 'R5', 'R10']
>>> metric("MedR").higher_is_better
False
>>> metric("nDCG@5").name, metric("mAP@16").reference
('nDCG at 5 (%)', 'trec_eval map_cut_16')
>>> format_number(78.125, 2), format_number(78.135, 2), format_number(None, 2)
('78.12', '78.14', '—')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

GEOMETRIC_MEAN_KEY = "geometric_mean_R1-R5-R10"
#: What a missing value (a metric a top-k submission cannot have, an unscored dataset) prints as.
MISSING = "—"


@dataclass(frozen=True)
class Metric:
    """One metric: the scorer's key, how it is labelled and whether a higher value is better.

    Attributes:
        key: the key in the scorer's JSON (the reference implementation's own name).
        label: a short column heading ("R@1", "Geom").
        name: the long display name ("Geometric mean of R@1, R@5, R@10").
        higher_is_better: the metric's direction (the default sort of its column).
        decimals: the digits shown after the point unless the challenge sets its own.
        unit: "%" for shares and averages shown in percent, "rank" for ranks.
        reference: where the definition comes from (docs/design.md section 4 gives each in full).
    """

    key: str
    label: str
    name: str
    higher_is_better: bool = True
    decimals: int = 2
    unit: str = "%"
    reference: str = "Collaborative Experts"

    @property
    def family(self) -> str:
        """The metric without its cut-off: "mAP" for "mAP@10", the key itself otherwise."""
        return self.key.split("@", 1)[0]

    @property
    def cutoff(self) -> int | None:
        """K of "mAP@K", "nDCG@K", "Recall@K" and of R1, R5, R10, R50; None for a full-list metric."""
        if "@" in self.key:
            return int(self.key.split("@", 1)[1])
        return _RECALL_CUTOFFS.get(self.key)


_RECALL_CUTOFFS = {"R1": 1, "R5": 5, "R10": 10, "R50": 50}

#: The rank metrics every scored dataset reports (one relevant item or several: section 4).
METRICS: tuple[Metric, ...] = (
    Metric("R1", "R@1", "Recall at 1 (%)"),
    Metric("R5", "R@5", "Recall at 5 (%)"),
    Metric("R10", "R@10", "Recall at 10 (%)"),
    Metric("R50", "R@50", "Recall at 50 (%)"),
    Metric("MedR", "MedR", "Median rank", higher_is_better=False, unit="rank"),
    Metric("MeanR", "MeanR", "Mean rank", higher_is_better=False, unit="rank"),
    Metric(GEOMETRIC_MEAN_KEY, "Geom", "Geometric mean of R@1, R@5, R@10"),
)
METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)

#: Metrics of sets of relevant items and graded relevance (section 4), reported where a challenge
#: asks for them; other cut-offs of the "@K" families are declared per challenge ("mAP@16", "nDCG@5").
RELEVANCE_METRICS: tuple[Metric, ...] = (
    Metric("mAP", "mAP", "Mean average precision (%)", reference="trec_eval map"),
    Metric("mAP@10", "mAP@10", "Mean average precision at 10 (%)", reference="trec_eval map_cut_10"),
    Metric("RPrec", "R-Prec", "R-precision (%)", reference="trec_eval Rprec"),
    Metric(
        "Recall@10",
        "Recall@10",
        "Share of the relevant items in the top 10 (%)",
        reference="trec_eval recall_10",
    ),
    Metric("nDCG", "nDCG", "Normalised discounted cumulative gain (%)", reference="trec_eval ndcg"),
    Metric("nDCG@10", "nDCG@10", "nDCG at 10 (%)", reference="trec_eval ndcg_cut_10"),
)
RELEVANCE_METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in RELEVANCE_METRICS)
#: The families that take a declared cut-off, with the trec_eval measure each follows.
CUTOFF_FAMILIES: dict[str, tuple[str, str, str]] = {
    "mAP": ("Mean average precision at {k} (%)", "trec_eval map_cut_{k}", "mAP@{k}"),
    "Recall": ("Share of the relevant items in the top {k} (%)", "trec_eval recall_{k}", "Recall@{k}"),
    "nDCG": ("nDCG at {k} (%)", "trec_eval ndcg_cut_{k}", "nDCG@{k}"),
}
#: Largest declarable cut-off.
MAX_CUTOFF = 10_000
_BY_KEY = {m.key: m for m in (*METRICS, *RELEVANCE_METRICS)}
#: Keys of the metrics where a lower value is better.
LOWER_IS_BETTER: frozenset[str] = frozenset(m.key for m in METRICS if not m.higher_is_better)


def metric(key: str) -> Metric:
    """The registered metric with this key, or a declared cut-off of an "@K" family ("nDCG@5").

    Raises:
        KeyError: no metric has this key.
    """
    found = _BY_KEY.get(key)
    if found is not None:
        return found
    family, _, cutoff = key.partition("@")
    if family in CUTOFF_FAMILIES and cutoff.isdigit() and cutoff == str(int(cutoff)):
        k = int(cutoff)
        if 1 <= k <= MAX_CUTOFF:
            name, reference, label = CUTOFF_FAMILIES[family]
            return Metric(key, label.format(k=k), name.format(k=k), reference=reference.format(k=k))
    raise KeyError(key)


def reported_metric_keys(tables: Iterable[Mapping[str, Any] | None]) -> tuple[str, ...]:
    """The columns of a table of reported metrics: the rank metrics, then every other metric that
    some of `tables` (the report's t2v/v2t dicts, or their intervals) holds, the registered relevance
    metrics in registry order before the declared cut-offs in the order first met; unknown keys are
    left out.

    >>> reported_metric_keys([{"R1": 1.0, "mAP@16": 2.0, "nDCG": 3.0}, None])[len(METRIC_KEYS):]
    ('nDCG', 'mAP@16')
    """
    found: dict[str, None] = {}
    for table in tables:
        for key in table or {}:
            if key not in found and key not in METRIC_KEYS and is_metric(key):
                found[key] = None
    registered = [key for key in RELEVANCE_METRIC_KEYS if key in found]
    return (*METRIC_KEYS, *registered, *(key for key in found if key not in RELEVANCE_METRIC_KEYS))


def is_metric(key: str) -> bool:
    """Whether `metric(key)` names a metric (a registered one or a declared cut-off)."""
    try:
        metric(key)
    except KeyError:
        return False
    return True


def format_number(value: float | int | None, decimals: int = 2, *, missing: str = MISSING) -> str:
    """`value` with `decimals` digits after the point, the one rounding rule of the project.

    The rule: round half to even on the shortest decimal that reads back as the stored float
    (`repr`), so 78.125 shows as 78.12 and 78.135 as 78.14 on every page, export and terminal,
    whatever float formatting the caller's language would do. None and non-finite values print as
    `missing`.
    """
    if value is None or isinstance(value, bool):
        return missing
    number = float(value)
    if not math.isfinite(number):
        return missing
    quantum = Decimal(1).scaleb(-int(decimals))
    rounded = Decimal(repr(number)).quantize(quantum, rounding=ROUND_HALF_EVEN)
    if rounded.is_zero():
        rounded = abs(rounded)  # no "-0.00"
    return f"{rounded:f}"
