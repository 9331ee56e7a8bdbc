"""Numeric query parameters of the public API: parsed once, refused with the allowed range.

A bare ``int()`` accepts values the database cannot take (``?limit=9223372036854775808`` was a 500
on SQLite and PostgreSQL); every numeric parameter goes through `query_integer` instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rest_framework.exceptions import ValidationError

QUERY_INTEGER_INVALID = (
    "The query parameter '{name}' must be a whole number from {minimum:,} to {maximum:,}; got {value!r}."
)
_DIGITS = re.compile(r"[+-]?[0-9]{1,30}")


def query_integer(
    params: Mapping[str, str], name: str, *, minimum: int, maximum: int, default: int | None = None
) -> int | None:
    """The integer `params[name]` within [minimum, maximum], or `default` when absent or empty.

    Raises:
        ValidationError: (400) not a plain decimal integer (``abc``, ``1e3``, ``1.5``) or out of range;
            the message names the parameter and the allowed range.
    """
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    if _DIGITS.fullmatch(value) and minimum <= int(value) <= maximum:
        return int(value)
    shown = value if len(value) <= 40 else value[:40] + "..."
    raise ValidationError(
        {"detail": QUERY_INTEGER_INVALID.format(name=name, minimum=minimum, maximum=maximum, value=shown)}
    )
