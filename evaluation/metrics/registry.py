"""The one list of retrieval metrics and the one number formatter (docs/design.md section 4).

Every place that names, orders or prints a metric (the scorer's JSON, the site's pages, CSV and JSON
exports, charts, both CLIs) reads it from here, so a column is labelled and a value rounded the same
way everywhere. Pure Python: the participants' CLI imports it without Django.

>>> [m.key for m in METRICS][:3]
['R1', 'R5', 'R10']
>>> metric("MedR").higher_is_better
False
>>> format_number(78.125, 2), format_number(78.135, 2), format_number(None, 2)
('78.12', '78.14', '—')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

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
    """

    key: str
    label: str
    name: str
    higher_is_better: bool = True
    decimals: int = 2


METRICS: tuple[Metric, ...] = (
    Metric("R1", "R@1", "Recall at 1 (%)"),
    Metric("R5", "R@5", "Recall at 5 (%)"),
    Metric("R10", "R@10", "Recall at 10 (%)"),
    Metric("R50", "R@50", "Recall at 50 (%)"),
    Metric("MedR", "MedR", "Median rank", higher_is_better=False),
    Metric("MeanR", "MeanR", "Mean rank", higher_is_better=False),
    Metric(GEOMETRIC_MEAN_KEY, "Geom", "Geometric mean of R@1, R@5, R@10"),
)
METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)
_BY_KEY = {m.key: m for m in METRICS}
#: Keys of the metrics where a lower value is better.
LOWER_IS_BETTER: frozenset[str] = frozenset(m.key for m in METRICS if not m.higher_is_better)


def metric(key: str) -> Metric:
    """The registered metric with this key.

    Raises:
        KeyError: no metric has this key.
    """
    return _BY_KEY[key]


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
