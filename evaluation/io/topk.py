"""Top-k CSVs: one row of 0-based video indices per query, read a line at a time within the phase's
shapes."""

from __future__ import annotations

import array
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import numpy.typing as npt

from ..errors import SubmissionFormatError, SubmissionTooLargeError
from .limits import MiB

MIN_TOPK = 10
CSV_TOO_MANY_ROWS = "has more than {rows:,} rows; expected {rows:,}, one per query"
CSV_TOO_MANY_COLUMNS = "has {width:,} columns; expected at most {videos:,}, the number of videos"
CSV_LINE_TOO_LONG = (
    "line {line:,} is longer than {limit:,} bytes; expected at most {fields:,} values of at most {chars}"
    " characters each"
)
CSV_FIELD_TOO_LONG = (
    "line {line:,} holds a value of {chars:,} characters; expected video indices below {videos:,} (at most"
    " {limit} characters)"
)


@dataclass(frozen=True)
class TopkBounds:
    """What one dataset's top-k CSV may hold, from the phase's shapes: the reader reads no further.

    Attributes:
        rows: Q, the most data rows (a header line may come on top).
        videos: V, the most indices per row; each index has at most as many digits as V.
    """

    rows: int
    videos: int

    @property
    def field_chars(self) -> int:
        """Longest value: V's digits, plus room for a sign, leading zeros and spaces."""
        return len(str(self.videos)) + 8

    @property
    def line_bytes(self) -> int:
        """Longest line: a query id, then V values and their commas (a header line has the same bound)."""
        return MAX_CSV_QUERY_ID_LENGTH + 2 + (self.videos + 1) * (self.field_chars + 1)


#: Longest line of a CSV read without the phase's shapes (the participant's own `validate` without a kit).
_UNBOUNDED_LINE_BYTES = 4 * MiB

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
#: A row's first field names its query when it holds a letter (kit ids always do; indices never).
_LETTER = re.compile(r"[A-Za-z]")
MAX_CSV_QUERY_ID_LENGTH = 256


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
    letter, indices never do): then rows may come in any order, and blind phases require it. A first line whose last field is not an integer
    is a header and skipped. With `bounds` (the phase's shapes) parsing stops at the first row, column,
    value or line beyond them.

    Returns:
        (query ids as a (Q,) str array, or None when the rows carry none; the (Q, k) int64 indices).

    >>> ids, top = parse_topk_table(b"query_id,r1,r2\\nqb,3,1\\nqa,0,2\\n")
    >>> ids.tolist(), top.tolist()
    (['qb', 'qa'], [[3, 1], [0, 2]])
    """
    return _parse_topk_stream(io.BytesIO(raw), bounds, max_bytes=len(raw), dataset=dataset, member=member)


def _csv_lines(
    stream: IO[bytes], *, line_bytes: int, max_bytes: int, dataset: str | None, member: str | None
) -> Iterator[str]:
    """The member's lines, read one at a time and never longer than `line_bytes` (split as
    `str.splitlines` splits them)."""
    total = 0
    first = True
    number = 0
    while True:
        raw = stream.readline(line_bytes + 1)
        if not raw:
            return
        number += 1
        total += len(raw)
        if total > max_bytes:
            raise SubmissionTooLargeError(
                f"is larger than {max_bytes:,} bytes", dataset=dataset, member=member
            )
        if len(raw) > line_bytes and not raw.endswith(b"\n"):
            raise _LineTooLong(number)
        if first:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
            first = False
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SubmissionFormatError(
                "is not UTF-8 text; expected comma-separated integers", dataset=dataset, member=member
            ) from None
        yield from text.splitlines()


class _LineTooLong(Exception):
    def __init__(self, number: int) -> None:
        self.number = number


def _parse_topk_stream(
    stream: IO[bytes], bounds: TopkBounds | None, *, max_bytes: int, dataset: str | None, member: str | None
) -> tuple[npt.NDArray[np.str_] | None, npt.NDArray[np.int64]]:
    """`parse_topk_table` on a binary stream, a line at a time: memory is one line plus the indices."""
    line_bytes = bounds.line_bytes if bounds is not None else _UNBOUNDED_LINE_BYTES
    ids: list[str] | None = None
    values = array.array("q")
    width = 0
    rows = 0
    lines = _csv_lines(stream, line_bytes=line_bytes, max_bytes=max_bytes, dataset=dataset, member=member)
    try:
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
                query, sep, line = line.partition(",")
                query = query.strip()
                if not sep or len(query) > MAX_CSV_QUERY_ID_LENGTH or not _LETTER.search(query):
                    raise SubmissionFormatError(
                        f"line {rows} does not start with a query id: {(query + sep + line)[:80]!r}; expected"
                        " every row to be 'query_id,index,index,...' like the first one",
                        dataset=dataset,
                        member=member,
                    )
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
                parsed = [int(v) for v in fields]
            except ValueError:
                raise SubmissionFormatError(
                    f"line {rows} is not comma-separated integers: {line[:80]!r}",
                    dataset=dataset,
                    member=member,
                ) from None
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
    except _LineTooLong as long:
        most_fields = bounds.videos + 1 if bounds is not None else None
        raise SubmissionFormatError(
            CSV_LINE_TOO_LONG.format(
                line=long.number,
                limit=line_bytes,
                fields=most_fields or line_bytes // 2,
                chars=bounds.field_chars if bounds is not None else "a few",
            ),
            dataset=dataset,
            member=member,
        ) from None
    if not rows:
        raise SubmissionFormatError(
            "holds no rows; expected one row of video indices per query", dataset=dataset, member=member
        )
    topk = np.frombuffer(values, dtype=np.int64).reshape(rows, width).copy()
    return (None if ids is None else np.array(ids)), topk
