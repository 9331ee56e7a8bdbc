"""CSV exports that a spreadsheet cannot run: every export of the site writes through `csv_writer`.

Spreadsheets read a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return
before one) as a formula, so a team named ``=HYPERLINK(...)`` would run in the organiser's sheet.
Such text cells get a leading single quote (OWASP's CSV injection advice); numbers, including
negative ones written as text like ``-0.25``, stay numbers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class _Writable(Protocol):
    def write(self, value: str, /) -> Any: ...


def spreadsheet_safe(value: Any) -> Any:
    """The cell as a spreadsheet should read it: text that would start a formula gets a leading quote.

    >>> [spreadsheet_safe(v) for v in ["=1+1", "@SUM(A1)", "-0.25", -3, "Team A", "\\t=x"]]
    ["'=1+1", "'@SUM(A1)", '-0.25', -3, 'Team A', "'\\t=x"]
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_TRIGGERS) or _NUMBER.fullmatch(value):
        return value
    return "'" + value


class SafeCsvWriter:
    """`csv.writer` whose rows pass through `spreadsheet_safe` first."""

    def __init__(self, target: _Writable) -> None:
        self._writer = csv.writer(target)

    def writerow(self, row: Iterable[Any]) -> Any:
        """Write one row; returns what the target's write returned (a streamed line, for `core.views.Echo`)."""
        return self._writer.writerow([spreadsheet_safe(cell) for cell in row])


def csv_writer(target: _Writable) -> SafeCsvWriter:
    """The only way the site writes CSV: a writer onto `target` (a response, a buffer, an echo)."""
    return SafeCsvWriter(target)
