"""Pages of a board: which rows a request asks for (`?page=`, `?page_size=` or `limit=`), validated.

A board is ranked once (`leaderboard.selectors.leaderboard_rows`) and cut into pages here, so a page's
ranks are the board's. Bad numbers are the client's mistake: a ValueError whose message says the
allowed range (a 400), never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from leaderboard.query_params import QUERY_INTEGER_INVALID

#: The same sentence as every other numeric query parameter (`leaderboard.query_params`).
BAD_NUMBER = QUERY_INTEGER_INVALID
PAGE_BEYOND_LAST = (
    "page must be from 1 to {pages} (this board has {total} rows, {size} per page); got {page}."
)

#: The query parameters that choose a page (`limit` is the older name of `page_size`).
PAGE_PARAMETERS = ("page", "page_size", "limit")


@dataclass(frozen=True)
class PageRequest:
    """The page a client asked for: its 1-based number and how many rows a page holds."""

    number: int
    size: int


@dataclass(frozen=True)
class Page:
    """One page of a board's rows, with what a client needs to ask for the others."""

    rows: list[dict[str, Any]]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def first_index(self) -> int:
        """1-based position of the page's first row on the board (0 for an empty board)."""
        return 0 if not self.rows else (self.number - 1) * self.size + 1

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.rows) - 1 if self.rows else 0


def _whole_number(name: str, value: str, low: int, high: int) -> int:
    text = value.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(BAD_NUMBER.format(name=name, minimum=low, maximum=high, value=value[:40]))
    return int(text)


def page_request_parse(*, params: Mapping[str, Any], default_size: int | None = None) -> PageRequest:
    """Read `page` and `page_size` (or `limit`) from a query string.

    Raises:
        ValueError: a value that is not a whole number in range; the message gives the range.
    """
    largest = settings.PENTATHLON_BOARD_MAX_PAGE_SIZE
    size = default_size or settings.PENTATHLON_BOARD_PAGE_SIZE
    for name in ("limit", "page_size"):
        if params.get(name):
            size = _whole_number(name, str(params[name]), 1, largest)
    number = 1
    if params.get("page"):
        number = _whole_number("page", str(params["page"]), 1, 10**9)
    return PageRequest(number=number, size=size)


def page_of(*, rows: Sequence[dict[str, Any]], request: PageRequest) -> Page:
    """The requested page of `rows`.

    Raises:
        ValueError: a page beyond the last one (page 1 of an empty board exists).
    """
    total = len(rows)
    page = Page(rows=[], number=request.number, size=request.size, total=total)
    if request.number > page.pages:
        raise ValueError(
            PAGE_BEYOND_LAST.format(pages=page.pages, total=total, size=request.size, page=request.number)
        )
    start = (request.number - 1) * request.size
    return Page(
        rows=list(rows[start : start + request.size]), number=request.number, size=request.size, total=total
    )
