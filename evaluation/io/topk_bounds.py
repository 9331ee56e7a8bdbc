"""How far a top-k file is read: the phase's shapes of one dataset and, where known, its gallery ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

MAX_CSV_QUERY_ID_LENGTH = 256
CSV_TOO_MANY_ROWS = "has more than {rows:,} rows; expected {rows:,}, one per query"


@dataclass(frozen=True)
class TopkBounds:
    """What one dataset's top-k file may hold, from the phase's shapes: the reader reads no further.

    Attributes:
        rows: Q, the most data rows (a header line may come on top).
        videos: V, the most indices per row; each index has at most as many digits as V.
        gallery: the dataset's gallery ids in column order (the ground truth's `videos`, the kit's
            videos.txt), against which rows that name gallery ids are resolved; None when unknown
            (then only indices can be read).
    """

    rows: int
    videos: int
    gallery: tuple[str, ...] | None = None

    @classmethod
    def for_gallery(cls, *, rows: int, gallery: Sequence[str]) -> TopkBounds:
        """The bounds of a dataset of `rows` queries whose gallery lists `gallery`, in column order.

        >>> TopkBounds.for_gallery(rows=2, gallery=["v1", "v2"]).videos
        2
        """
        return cls(rows=rows, videos=len(gallery), gallery=tuple(str(item) for item in gallery))

    @property
    def field_chars(self) -> int:
        """Longest value: V's digits, plus room for a sign, leading zeros and spaces."""
        return len(str(self.videos)) + 8

    @property
    def line_bytes(self) -> int:
        """Longest line: a query id, then V values and their commas (a header line has the same bound)."""
        return MAX_CSV_QUERY_ID_LENGTH + 2 + (self.videos + 1) * (self.field_chars + 1)

    @cached_property
    def gallery_index(self) -> dict[str, int]:
        """Gallery id -> column index (empty without a gallery)."""
        return {item: column for column, item in enumerate(self.gallery or ())}

    @cached_property
    def id_bytes(self) -> int:
        """Longest gallery id in UTF-8 bytes (0 without a gallery)."""
        return max((len(item.encode("utf-8")) for item in self.gallery or ()), default=0)

    @property
    def id_line_bytes(self) -> int:
        """Longest line of a CSV of gallery ids: a query id, then V ids, each perhaps quoted and spaced."""
        return 4 * MAX_CSV_QUERY_ID_LENGTH + 2 + self.videos * (self.id_bytes + 8)

    @property
    def json_bytes(self) -> int:
        """Largest JSON top-k of these shapes: per query its id and V gallery ids, each perhaps escaped
        (at most 6 bytes per UTF-8 byte) and spaced."""
        return 64 + self.rows * (6 * MAX_CSV_QUERY_ID_LENGTH + 32 + self.videos * (6 * self.id_bytes + 16))
