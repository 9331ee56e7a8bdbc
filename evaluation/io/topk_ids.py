"""Top-k rows that name gallery ids instead of indices (docs/design.md, section 5).

A top-k CSV whose header line is ``gallery_ids`` or ``query_id,gallery_ids`` lists, per row, the
gallery ids of the starter kit's ``<Dataset>/videos.txt`` (best first, perhaps after the row's query
id); the JSON top-k (`evaluation.io.topk_json`) always does. Each row is resolved against the
dataset's gallery as it is read, into the 0-based column indices an index CSV holds, so the scorer
cannot tell the forms apart: the same ranking scores the same to the last bit.
"""

from __future__ import annotations

import array
import csv
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..errors import SubmissionFormatError
from .topk_bounds import CSV_TOO_MANY_ROWS, MAX_CSV_QUERY_ID_LENGTH, TopkBounds

GALLERY_IDS_HEADER = "gallery_ids"
GALLERY_IDS_NEED_GALLERY = (
    "names gallery ids, which are read against the dataset's gallery list, and none is at hand; expected"
    " it checked against the phase (offline: an unpacked starter kit, whose <Dataset>/videos.txt lists"
    " the gallery, or the ground truth), or a CSV of 0-based indices"
)
GALLERY_ID_UNKNOWN = (
    "{where} names the gallery item {item!r}, which is not in this dataset's gallery; expected ids listed"
    " in the starter kit's <Dataset>/videos.txt"
)
GALLERY_ID_REPEATED = (
    "{where} lists the gallery item {item!r} more than once; expected distinct ids, best first"
)
GALLERY_IDS_TOO_MANY = (
    "{where} lists {count:,} gallery ids; expected at most {videos:,}, the size of the gallery"
)
GALLERY_IDS_WIDTH = "{where} lists {count:,} gallery ids; expected {width:,}, as many as the first one"
GALLERY_ID_ROW_QUERY = (
    "row {row:,} does not start with a query id; expected every row to be 'query_id,gallery_id,...', as"
    " the header 'query_id,gallery_ids' declares"
)
GALLERY_ID_CSV_BAD = "row {row:,} is not valid CSV ({problem}); expected comma-separated gallery ids"


class _LineBound(Protocol):
    line_bytes: int


def gallery_id_header(line: str) -> bool | None:
    """Whether a CSV's first line declares gallery ids: None if not, else whether rows start with their
    query id.

    >>> gallery_id_header("query_id,gallery_ids"), gallery_id_header("gallery_ids"), gallery_id_header("1,2")
    (True, False, None)
    """
    fields = [field.strip().strip('"').strip().lower() for field in line.split(",")]
    if fields == [GALLERY_IDS_HEADER]:
        return False
    if fields == ["query_id", GALLERY_IDS_HEADER]:
        return True
    return None


class GalleryRows:
    """Rows of gallery ids resolved, one at a time, into int64 column indices within the bounds.

    `too_many` is the sentence for one row (query) more than the phase's; `noun` names a row in the
    message of an empty file.
    """

    def __init__(
        self,
        bounds: TopkBounds | None,
        *,
        with_query: bool,
        dataset: str | None,
        member: str | None,
        too_many: str = CSV_TOO_MANY_ROWS,
        noun: str = "row",
    ) -> None:
        if bounds is None or bounds.gallery is None:
            raise SubmissionFormatError(GALLERY_IDS_NEED_GALLERY, dataset=dataset, member=member)
        self.bounds, self.too_many, self.noun = bounds, too_many, noun
        self.dataset, self.member = dataset, member
        self.ids: list[str] | None = [] if with_query else None
        self.values = array.array("q")
        self.width: int | None = None
        self.count = 0

    def _fail(self, detail: str) -> SubmissionFormatError:
        return SubmissionFormatError(detail, dataset=self.dataset, member=self.member)

    def add(self, where: str, query: str | None, items: list[str]) -> None:
        """Resolve one row (`where` names it in messages: "row 3", "the list of the query 'q7'")."""
        bounds = self.bounds
        if self.count >= bounds.rows:
            raise self._fail(self.too_many.format(rows=bounds.rows))
        if len(items) > bounds.videos:
            raise self._fail(GALLERY_IDS_TOO_MANY.format(where=where, count=len(items), videos=bounds.videos))
        if self.width is None:
            self.width = len(items)
        elif len(items) != self.width:
            raise self._fail(GALLERY_IDS_WIDTH.format(where=where, count=len(items), width=self.width))
        index = bounds.gallery_index
        columns = [index.get(item, -1) for item in items]
        if -1 in columns:
            raise self._fail(GALLERY_ID_UNKNOWN.format(where=where, item=items[columns.index(-1)][:80]))
        if len(set(columns)) != len(columns):
            raise self._fail(GALLERY_ID_REPEATED.format(where=where, item=_first_repeat(items)[:80]))
        self.values.extend(columns)
        if self.ids is not None and query is not None:
            self.ids.append(query)
        self.count += 1

    def result(self) -> tuple[npt.NDArray[np.str_] | None, npt.NDArray[np.int64]]:
        """(query ids or None, the (Q, k) int64 column indices)."""
        if not self.count:
            raise self._fail(f"holds no {self.noun}s; expected one {self.noun} of gallery ids per query")
        width = self.width or 0
        if not width:
            return (None if self.ids is None else np.array(self.ids)), np.zeros(
                (self.count, 0), dtype=np.int64
            )
        # A view of the array's buffer, not a copy: the indices are held once (the array is never resized again).
        topk = np.frombuffer(self.values, dtype=np.int64).reshape(self.count, width)
        return (None if self.ids is None else np.array(self.ids)), topk


def _first_repeat(items: list[str]) -> str:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return ""


def parse_gallery_id_rows(
    reader: _LineBound,
    lines: Iterator[str],
    bounds: TopkBounds | None,
    *,
    with_query: bool,
    dataset: str | None,
    member: str | None,
) -> tuple[npt.NDArray[np.str_] | None, npt.NDArray[np.int64]]:
    """The rows after a gallery-id header, each resolved as it is read (`reader.line_bytes` is set to
    the bound of a row of gallery ids first)."""
    rows = GalleryRows(bounds, with_query=with_query, dataset=dataset, member=member)
    reader.line_bytes = rows.bounds.id_line_bytes
    for line in lines:
        if not line.strip():
            continue
        number = rows.count + 1
        try:
            fields = next(csv.reader([line], strict=True, skipinitialspace=True))
        except csv.Error as exc:
            raise SubmissionFormatError(
                GALLERY_ID_CSV_BAD.format(row=number, problem=exc), dataset=dataset, member=member
            ) from None
        query = None
        if with_query:
            query = fields.pop(0).strip() if fields else ""
            if not query or len(query) > MAX_CSV_QUERY_ID_LENGTH:
                raise SubmissionFormatError(
                    GALLERY_ID_ROW_QUERY.format(row=number), dataset=dataset, member=member
                )
        rows.add(f"row {number:,}", query, [field.strip() for field in fields])
    return rows.result()
