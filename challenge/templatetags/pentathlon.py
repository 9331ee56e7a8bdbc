from typing import Any

from django import template

from evaluation.metrics.registry import format_number, metric

register = template.Library()


@register.filter
def get_item(mapping: dict[str, Any] | None, key: str) -> Any:
    """`{{ metrics|get_item:"R1" }}`: dictionary lookup for keys that are not identifiers."""
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def number(value: float | None, decimals: int = 2) -> str:
    """`{{ score|number:decimals }}`: the project's one number format (half to even; "—" when missing).

    Use it instead of `floatformat`, which rounds half up: a value must read the same on a page, in
    the CSV and in the CLI."""
    return format_number(value, int(decimals))


@register.filter
def metric_label(key: str) -> str:
    """`{{ "geometric_mean_R1-R5-R10"|metric_label }}` -> "Geom": the registry's short heading."""
    try:
        return metric(key).label
    except KeyError:
        return key


@register.filter
def metric_name(key: str) -> str:
    """The registry's long name of a metric ("Geometric mean of R@1, R@5, R@10")."""
    try:
        return metric(key).name
    except KeyError:
        return key


@register.filter
def interval(value: dict[str, Any] | None, decimals: int = 2) -> str:
    """`{{ result.intervals.overall_score|interval:decimals }}` -> "[40.95, 43.20]" ("" when missing).

    `value` is an interval dict of `evaluation.uncertainty` (estimate, low, high, level)."""
    if not value or value.get("low") is None or value.get("high") is None:
        return ""
    return f"[{format_number(value['low'], int(decimals))}, {format_number(value['high'], int(decimals))}]"


@register.filter
def level_percent(value: float | None) -> str:
    """0.95 -> "95", 0.999 -> "99.9": a confidence level as a percentage."""
    if value is None:
        return ""
    return format_number(100.0 * float(value), 1).rstrip("0").rstrip(".")
