"""Top-k CSVs: one row of 0-based video indices (or, under a `gallery_ids` header, gallery ids) per
query, read a line at a time within the phase's shapes."""

from __future__ import annotations

import array
import io
import itertools
import re
from collections.abc import Iterator
from typing import IO

import numpy as np
import numpy.typing as npt

from ..errors import SubmissionFormatError, SubmissionTooLargeError
from .limits import MiB
from .topk_bounds import CSV_TOO_MANY_ROWS, MAX_CSV_QUERY_ID_LENGTH, TopkBounds
from .topk_ids import gallery_id_header, parse_gallery_id_rows

MIN_TOPK = 10
CSV_TOO_MANY_COLUMNS = "has {width:,} columns; expected at most {videos:,}, the number of videos"
CSV_LINE_TOO_LONG = (
    "line {line:,} is longer than {limit:,} bytes; expected at most {fields:,} values of at most {chars}"
    " characters each"
)
CSV_ID_LINE_TOO_LONG = (
    "line {line:,} is longer than {limit:,} bytes; expected a query id and at most {videos:,} gallery ids"
    " of at most {chars:,} bytes each"
)
CSV_FIELD_TOO_LONG = (
    "line {line:,} holds a value of {chars:,} characters; expected video indices below {videos:,} (at most"
    " {limit} characters)"
)


#: Longest line of a CSV read without the phase's shapes (the participant's own `validate` without a kit).
_UNBOUNDED_LINE_BYTES = 4 * MiB

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
#: A row's first field names its query when it holds a letter (kit ids always do; indices never).
_LETTER = re.compile(r"[A-Za-z]")


def parse_topk_csv(
    raw: bytes, *, dataset: str | None = None, member: str | None = None
) -> npt.NDArray[np.int64]:
    """The video indices of a top-k CSV (see `parse_topk_table`), whether or not its rows name their query.

    >>> parse_topk_csv(b"3,1,2\\n0,2,1\\n").tolist()
    [[3, 1, 2], [0, 2, 1]]
    """
    return parse_topk_table(raw, dataset=dataset, member=member)[1]


def parse_topk_table(
    raw: bytes, *, dataset: str | None = None, member: str | None = None, bounds: TopkBounds | None = None
) -> tuple[npt.NDArray[np.str_] | None, npt.NDArray[np.int64]]:
    """Parse a top-k CSV: one row per query, comma-separated 0-based video indices, best first.

    A row may start with its query's id from the starter kit (``q1a2b...,17,3,...``; ids hold a
    letter, indices never do): then rows may come in any order, and blind phases require it. A first
    line whose last field is not an integer is a header and skipped, unless it declares gallery ids
    (``gallery_ids`` or ``query_id,gallery_ids``): then each row lists ids of `bounds.gallery`,
    resolved into the same indices (`evaluation.io.topk_ids`). With `bounds` (the phase's shapes)
    parsing stops at the first row, column, value or line beyond them.

    Returns:
        (query ids as a (Q,) str array, or None when the rows carry none; the (Q, k) int64 indices).

    >>> ids, top = parse_topk_table(b"query_id,r1,r2\\nqb,3,1\\nqa,0,2\\n")
    >>> ids.tolist(), top.tolist()
    (['qb', 'qa'], [[3, 1], [0, 2]])
    >>> gallery = TopkBounds.for_gallery(rows=2, gallery=["v0", "v1", "v2", "v3"])
    >>> ids, top = parse_topk_table(b"query_id,gallery_ids\\nqb,v3,v1\\nqa,v0,v2\\n", bounds=gallery)
    >>> ids.tolist(), top.tolist()
    (['qb', 'qa'], [[3, 1], [0, 2]])
    """
    return _parse_topk_stream(io.BytesIO(raw), bounds, max_bytes=len(raw), dataset=dataset, member=member)


class _CsvLines:
    """The member's lines, read one at a time and never longer than `line_bytes` (split as
    `str.splitlines` splits them); `line_bytes` may change between lines (a header of gallery ids
    sets the bound of the rows that follow)."""

    def __init__(
        self, stream: IO[bytes], *, line_bytes: int, max_bytes: int, dataset: str | None, member: str | None
    ) -> None:
        self.stream, self.line_bytes, self.max_bytes = stream, line_bytes, max_bytes
        self.dataset, self.member = dataset, member

    def __iter__(self) -> Iterator[str]:
        total = 0
        first = True
        number = 0
        while True:
            raw = self.stream.readline(self.line_bytes + 1)
            if not raw:
                return
            number += 1
            total += len(raw)
            if total > self.max_bytes:
                raise SubmissionTooLargeError(
                    f"is larger than {self.max_bytes:,} bytes", dataset=self.dataset, member=self.member
                )
            if len(raw) > self.line_bytes and not raw.endswith(b"\n"):
                raise _LineTooLong(number)
            if first:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
                first = False
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise SubmissionFormatError(
                    "is not UTF-8 text; expected comma-separated integers or gallery ids",
                    dataset=self.dataset,
                    member=self.member,
                ) from None
            yield from text.splitlines()


class _LineTooLong(Exception):
    def __init__(self, number: int) -> None:
        self.number = number


def _line_too_long(long: _LineTooLong, bounds: TopkBounds | None, line_bytes: int) -> str:
    most_fields = bounds.videos + 1 if bounds is not None else None
    return CSV_LINE_TOO_LONG.format(
        line=long.number,
        limit=line_bytes,
        fields=most_fields or line_bytes // 2,
        chars=bounds.field_chars if bounds is not None else "a few",
    )


def _parse_topk_stream(
    stream: IO[bytes], bounds: TopkBounds | None, *, max_bytes: int, dataset: str | None, member: str | None
) -> tuple[npt.NDArray[np.str_] | None, npt.NDArray[np.int64]]:
    """`parse_topk_table` on a binary stream, a line at a time: memory is one line plus the indices.

    A header line that declares gallery ids (`gallery_ids` or `query_id,gallery_ids`,
    `evaluation.io.topk_ids`) makes the rows lists of gallery ids, resolved against `bounds.gallery`."""
    line_bytes = bounds.line_bytes if bounds is not None else _UNBOUNDED_LINE_BYTES
    with_query: bool | None = None
    reader = _CsvLines(stream, line_bytes=line_bytes, max_bytes=max_bytes, dataset=dataset, member=member)
    lines = iter(reader)
    try:
        first = next(lines, None)
        with_query = None if first is None else gallery_id_header(first)
        if with_query is not None:
            return parse_gallery_id_rows(
                reader, lines, bounds, with_query=with_query, dataset=dataset, member=member
            )
        return _parse_index_rows(
            itertools.chain(() if first is None else (first,), lines), bounds, dataset=dataset, member=member
        )
    except _LineTooLong as long:
        if with_query is not None and bounds is not None:
            detail = CSV_ID_LINE_TOO_LONG.format(
                line=long.number, limit=reader.line_bytes, videos=bounds.videos, chars=bounds.id_bytes
            )
        else:
            detail = _line_too_long(long, bounds, reader.line_bytes)
        raise SubmissionFormatError(detail, dataset=dataset, member=member) from None


def _parse_index_rows(
    lines: Iterator[str], bounds: TopkBounds | None, *, dataset: str | None, member: str | None
) -> tuple[npt.NDArray[np.str_] | None, npt.NDArray[np.int64]]:
    """Rows of 0-based indices (a first line whose last field is not an integer is a header)."""
    ids: list[str] | None = None
    values = array.array("q")
    width = 0
    rows = 0
    for index, line in enumerate(lines):
        if index == 0 and not _INTEGER.fullmatch(line.rsplit(",", 1)[-1]):
            continue  # a header
        if not line.strip():
            continue
        rows += 1
        if bounds is not None and rows > bounds.rows:
            raise SubmissionFormatError(
                CSV_TOO_MANY_ROWS.format(rows=bounds.rows), dataset=dataset, member=member
            )
        if rows == 1 and _LETTER.search(line.split(",", 1)[0]):
            ids = []
        if ids is not None:
            query, line = _row_query(line, rows, dataset=dataset, member=member)
            ids.append(query)
        fields = line.split(",")
        if rows == 1:
            width = len(fields)
            if bounds is not None and width > bounds.videos:
                raise SubmissionFormatError(
                    CSV_TOO_MANY_COLUMNS.format(width=width, videos=bounds.videos),
                    dataset=dataset,
                    member=member,
                )
        parsed = _row_indices(fields, line, rows, bounds, dataset=dataset, member=member)
        if len(parsed) != width:
            raise SubmissionFormatError(
                f"line {rows} has {len(parsed)} values; expected {width} like the first line",
                dataset=dataset,
                member=member,
            )
        try:
            values.extend(parsed)
        except OverflowError:  # an integer beyond int64: no video has such an index
            raise SubmissionFormatError(
                f"holds an index beyond {np.iinfo(np.int64).max:,}; expected 0-based video indices",
                dataset=dataset,
                member=member,
            ) from None
    if not rows:
        raise SubmissionFormatError(
            "holds no rows; expected one row of video indices per query", dataset=dataset, member=member
        )
    topk = np.frombuffer(values, dtype=np.int64).reshape(rows, width).copy()
    return (None if ids is None else np.array(ids)), topk


def _row_query(line: str, rows: int, *, dataset: str | None, member: str | None) -> tuple[str, str]:
    """A row's query id and the rest of the row."""
    query, sep, rest = line.partition(",")
    query = query.strip()
    if not sep or len(query) > MAX_CSV_QUERY_ID_LENGTH or not _LETTER.search(query):
        raise SubmissionFormatError(
            f"line {rows} does not start with a query id: {(query + sep + rest)[:80]!r}; expected"
            " every row to be 'query_id,index,index,...' like the first one",
            dataset=dataset,
            member=member,
        )
    return query, rest


def _row_indices(
    fields: list[str],
    line: str,
    rows: int,
    bounds: TopkBounds | None,
    *,
    dataset: str | None,
    member: str | None,
) -> list[int]:
    """A row's values as integers, each no longer than the bounds allow."""
    if bounds is not None:
        longest = max(len(field) for field in fields)
        if longest > bounds.field_chars:
            raise SubmissionFormatError(
                CSV_FIELD_TOO_LONG.format(
                    line=rows, chars=longest, videos=bounds.videos, limit=bounds.field_chars
                ),
                dataset=dataset,
                member=member,
            )
    try:
        return [int(v) for v in fields]
    except ValueError:
        raise SubmissionFormatError(
            f"line {rows} is not comma-separated integers: {line[:80]!r}", dataset=dataset, member=member
        ) from None
