"""JSON top-k: a zip member ``<Dataset>-<phase>-predictions.json`` holding one object
``{"query_id": ["gallery id", ...], ...}``, each list the query's gallery ids, best first.

The member is bounded before it is parsed (its declared size against `MAX_JSON_TOPK_BYTES` and the
phase's shapes, `TopkBounds.json_bytes`) and read in blocks by a scanner that accepts that one shape
and nothing else: an object of strings to lists of strings, so no nesting, number or other type gets
further than its first character, and no recursion runs. Each query's list is resolved against the
gallery as soon as it ends (`evaluation.io.topk_ids.GalleryRows`), so memory holds one block of text
and the indices, never the decoded object.
"""

from __future__ import annotations

import codecs
import json.decoder
import re
from collections.abc import Callable
from typing import IO

import numpy as np
import numpy.typing as npt

from ..errors import SubmissionFormatError, SubmissionTooLargeError
from .limits import MiB
from .topk_bounds import MAX_CSV_QUERY_ID_LENGTH, TopkBounds
from .topk_ids import GalleryRows

JSON_SUFFIX = "-predictions.json"
#: Largest JSON top-k member, whatever the phase (the phase's shapes may bound it further).
MAX_JSON_TOPK_BYTES = 32 * MiB
JSON_TOPK_TOO_LARGE = (
    "is larger than {limit:,} bytes; expected a JSON top-k of at most {limit:,} bytes ({why})"
)
JSON_TOPK_TOO_MANY_QUERIES = "holds more than {rows:,} queries; expected {rows:,}, one list per query"
JSON_TOPK_TOO_MANY_IDS = (
    "{where} lists more than {videos:,} gallery ids; expected at most {videos:,}, the size of the gallery"
)
JSON_TOPK_NOT_UTF8 = "is not UTF-8 text; expected a JSON object of query ids to lists of gallery ids"
JSON_TOPK_BAD = (
    "is not a JSON top-k: {problem} (character {at:,}); expected one object"
    ' {{"query_id": ["gallery id", ...], ...}} listing every query\'s gallery ids as strings, best first'
)

#: The json module's string scanner (C-accelerated; typeshed does not declare it).
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_BLOCK_CHARS = 1 * MiB
#: Longest JSON string token, escapes included: a gallery or query id is at most 256 characters.
_MAX_TOKEN_CHARS = 64 * 1024
_SPACE = re.compile(r"[ \t\n\r]*")
_STRING = r'"[^"\\\x00-\x1f]*(?:\\.[^"\\\x00-\x1f]*)*"'
#: A list of strings and nothing else (no nesting can match): decoded at once by `json.loads`.
_STRING_LIST = re.compile(rf"\[[ \t\n\r]*(?:{_STRING}[ \t\n\r]*(?:,[ \t\n\r]*{_STRING}[ \t\n\r]*)*)?\]")
_KINDS = {"[": "a list", "{": "an object", "t": "true", "f": "false", "n": "null", "": "the end of the file"}


def json_byte_limit(bounds: TopkBounds | None, max_bytes: int) -> tuple[int, str]:
    """The most bytes a JSON top-k may have, and why: the global cap, the phase's shapes, `max_bytes`."""
    limits = [(MAX_JSON_TOPK_BYTES, "the cap of any JSON top-k"), (max_bytes, "the largest member allowed")]
    if bounds is not None and bounds.gallery is not None:
        limits.append(
            (bounds.json_bytes, f"{bounds.rows:,} queries of at most {bounds.videos:,} gallery ids")
        )
    return min(limits)


class _Scanner:
    """The member's text, decoded in blocks: a cursor that skips spaces and reads JSON strings."""

    def __init__(
        self, stream: IO[bytes], *, limit: int, why: str, dataset: str | None, member: str | None
    ) -> None:
        self.stream, self.limit, self.why = stream, limit, why
        self.dataset, self.member = dataset, member
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.text, self.pos, self.before, self.read, self.ended = "", 0, 0, 0, False
        self.list_chars = _MAX_TOKEN_CHARS

    def fail(self, problem: str) -> SubmissionFormatError:
        at = self.before + self.pos
        return SubmissionFormatError(
            JSON_TOPK_BAD.format(problem=problem, at=at), dataset=self.dataset, member=self.member
        )

    def _fill(self, need: int) -> None:
        """Read blocks until `need` characters lie ahead of the cursor, or the member ends."""
        while not self.ended and len(self.text) - self.pos < need:
            block = self.stream.read(_BLOCK_CHARS)
            self.read += len(block)
            if self.read > self.limit:
                raise SubmissionTooLargeError(
                    JSON_TOPK_TOO_LARGE.format(limit=self.limit, why=self.why),
                    dataset=self.dataset,
                    member=self.member,
                )
            try:
                decoded = self.decoder.decode(block, final=not block)
            except UnicodeDecodeError:
                raise SubmissionFormatError(
                    JSON_TOPK_NOT_UTF8, dataset=self.dataset, member=self.member
                ) from None
            if not self.before and not self.text:
                decoded = decoded.removeprefix("\ufeff")  # a byte-order mark
            self.ended = not block
            self.before += self.pos
            self.text = self.text[self.pos :] + decoded
            self.pos = 0

    def fill_list(self) -> None:
        """Read ahead the longest list of gallery ids the phase allows (or what is left)."""
        self._fill(self.list_chars)

    def peek(self) -> str:
        """The next character that is not a space ("" at the end), without consuming it."""
        while True:
            self._fill(1)
            spaces = _SPACE.match(self.text, self.pos)
            if spaces is not None:
                self.pos = spaces.end()
            if self.pos < len(self.text) or self.ended:
                return self.text[self.pos : self.pos + 1]

    def expect(self, char: str, problem: str) -> None:
        if self.peek() != char:
            raise self.fail(f"{problem}, found {_kind(self.peek())}")
        self.pos += 1

    def string(self, what: str) -> str:
        """The JSON string at the cursor (which is at its opening quote)."""
        self._fill(_MAX_TOKEN_CHARS)
        try:
            value, end = _scanstring(self.text, self.pos + 1, True)
        except json.JSONDecodeError as exc:
            raise self.fail(
                f"{what} is not a JSON string of at most {_MAX_TOKEN_CHARS:,} characters ({exc.msg})"
            ) from None
        if end - self.pos > _MAX_TOKEN_CHARS:
            raise self.fail(f"{what} is longer than {_MAX_TOKEN_CHARS:,} characters")
        self.pos = end
        return value


def _kind(char: str) -> str:
    if char == '"':
        return "a string"
    if char and char in "-0123456789":
        return "a number"
    return _KINDS.get(char, repr(char))


def parse_topk_json(
    stream: IO[bytes], bounds: TopkBounds | None, *, max_bytes: int, dataset: str | None, member: str | None
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int64]]:
    """Read a JSON top-k a query at a time: (query ids in the file's order, (Q, k) int64 indices).

    Every list must have the same length k; ids are resolved against `bounds.gallery` (required).
    Which queries must appear is the caller's rule (`evaluation.validation`), as for a CSV whose rows
    name their query.

    >>> import io
    >>> bounds = TopkBounds.for_gallery(rows=2, gallery=["v0", "v1", "v2"])
    >>> ids, top = parse_topk_json(io.BytesIO(b'{"qb": ["v2", "v0"], "qa": ["v1", "v2"]}'), bounds,
    ...                            max_bytes=1000, dataset="D", member="m.json")
    >>> ids.tolist(), top.tolist()
    (['qb', 'qa'], [[2, 0], [1, 2]])
    """
    rows = GalleryRows(
        bounds,
        with_query=True,
        dataset=dataset,
        member=member,
        too_many=JSON_TOPK_TOO_MANY_QUERIES,
        noun="query",
    )
    limit, why = json_byte_limit(bounds, max_bytes)
    scan = _Scanner(stream, limit=limit, why=why, dataset=dataset, member=member)
    scan.list_chars = min(limit, 64 + rows.bounds.videos * (6 * rows.bounds.id_bytes + 16))
    scan.expect("{", "expected '{' to open an object of query ids")
    if scan.peek() == "}":
        scan.pos += 1
    else:
        while True:
            if scan.peek() != '"':
                raise scan.fail(f"expected a query id (a string), found {_kind(scan.peek())}")
            query = scan.string("a query id")
            if not query or len(query) > MAX_CSV_QUERY_ID_LENGTH:
                raise scan.fail(f"a query id is empty or longer than {MAX_CSV_QUERY_ID_LENGTH} characters")
            scan.expect(":", f"expected ':' after the query id {query[:80]!r}")
            where = f"the list of the query {query[:80]!r}"
            rows.add(where, query, _id_list(scan, where, rows.bounds.videos))
            if scan.peek() == ",":
                scan.pos += 1
                continue
            scan.expect("}", f"expected ',' or '}}' after {where}")
            break
    if scan.peek() != "":
        raise scan.fail(f"expected the end of the file after the object, found {_kind(scan.peek())}")
    ids, topk = rows.result()
    return np.array([] if ids is None else ids, dtype=str), topk


def _id_list(scan: _Scanner, where: str, most: int) -> list[str]:
    """One query's list of gallery ids: strings only, at most `most` of them. A list of strings within the
    longest the phase allows is matched and decoded at once; anything else is walked a token at a time,
    which stops at the first character out of place."""
    if scan.peek() == "[":
        scan.fill_list()
        match = _STRING_LIST.match(scan.text, scan.pos)
        if match is not None:
            try:
                items: list[str] = json.loads(match.group())
            except ValueError:  # a bad escape: the walk below names it
                pass
            else:
                if len(items) > most:
                    raise SubmissionFormatError(
                        JSON_TOPK_TOO_MANY_IDS.format(where=where, videos=most),
                        dataset=scan.dataset,
                        member=scan.member,
                    )
                scan.pos = match.end()
                return items
    return _walk_id_list(scan, where, most)


def _walk_id_list(scan: _Scanner, where: str, most: int) -> list[str]:
    """`_id_list` a token at a time: the first character out of place is named."""
    scan.expect("[", f"expected {where} to be a list of gallery ids")
    items: list[str] = []
    if scan.peek() == "]":
        scan.pos += 1
        return items
    while True:
        char = scan.peek()
        if char != '"':
            raise scan.fail(f"{where} holds {_kind(char)}; expected gallery ids as strings")
        items.append(scan.string("a gallery id"))
        if len(items) > most:
            raise SubmissionFormatError(
                JSON_TOPK_TOO_MANY_IDS.format(where=where, videos=most),
                dataset=scan.dataset,
                member=scan.member,
            )
        if scan.peek() == ",":
            scan.pos += 1
            continue
        scan.expect("]", f"expected ',' or ']' in {where}")
        return items
