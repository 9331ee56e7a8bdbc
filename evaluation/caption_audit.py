"""The caption audit: how many of a phase's query texts a participant can look up in public annotations.

Blinding hides the organisers' query ids and order, not what a query says. When the captions of a
phase come from a public release (the raw captions of MSR-VTT, MSVD, DiDeMo, YouCook2, ActivityNet),
a participant can find each caption in the release, read off its video and build a near-perfect
submission without a model. This module counts, per dataset, the queries that carry text and, given
the public annotations (any caption -> video table), the captions that name exactly one video of the
split, and how many of those name the query's own video: what that lookup would score at R@1.

Captions are compared after `normalise_caption` (docs/blind-phases.md, "The caption audit"):
Unicode NFKC, case folding, every punctuation character (Unicode category P*) replaced by a space,
runs of whitespace collapsed to one space, leading and trailing space removed.

Annotations file (`read_annotations`): UTF-8 text (a BOM is allowed), a header line, then one row per
caption. The header names the columns `caption` and `video_id` (any order, any case) and optionally
`dataset`; other columns are ignored. Tab-separated when the header holds a tab (no quoting: a caption
runs to the next tab or line end), else comma-separated with RFC 4180 quoting. Rows without a
dataset apply to every dataset of the ground truth; rows naming a dataset the ground truth lacks are
skipped. Read line by line under `AnnotationLimits`; memory grows with the phase's queries only.
"""

from __future__ import annotations

import codecs
import csv
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .datasets import canonical_dataset_name
from .errors import EvaluationError, SubmissionFormatError
from .ground_truth import DatasetTruth, GroundTruth

ANNOTATIONS_FILE = "the public annotations"


class AnnotationsError(EvaluationError):
    """The organiser's public-annotations file is not a caption -> video table this reader accepts."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{ANNOTATIONS_FILE}: {message}")


@dataclass(frozen=True)
class AnnotationLimits:
    """Bounds on an annotations file: total bytes, data rows and characters per line."""

    max_bytes: int = 512 * 1024**2
    max_rows: int = 20_000_000
    max_line_chars: int = 65_536


@dataclass(frozen=True)
class Annotation:
    """One row of a caption -> video table; `dataset` None applies to every dataset."""

    caption: str
    video_id: str
    dataset: str | None = None


def normalise_caption(text: str) -> str:
    """The form in which captions are compared.

    >>> normalise_caption("  A man,  PLAYS the guitar!\\n")
    'a man plays the guitar'
    >>> normalise_caption("well-known") == normalise_caption("well - known")
    True
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    spaced = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return " ".join(spaced.split())


# ------------------------------------------------------------------------------------------ reading

_REQUIRED = ("caption", "video_id")


def _lines(stream: IO[bytes], limits: AnnotationLimits) -> Iterator[str]:
    """Decoded lines of `stream`, each bounded, the whole bounded; raises AnnotationsError."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    total = 0
    number = 0
    pending = ""
    while True:
        chunk = stream.read(1 << 16)
        total += len(chunk)
        if total > limits.max_bytes:
            raise AnnotationsError(
                f"the file is larger than {limits.max_bytes:,} bytes; expected at most that much"
            )
        try:
            pending += decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            at = number + pending.count("\n") + chunk[: exc.start].count(b"\n") + 1
            raise AnnotationsError(
                f"line {at} is not UTF-8 text ({exc.reason}); expected a UTF-8 table"
            ) from None
        *complete, pending = pending.split("\n")
        for line in complete:
            number += 1
            yield _checked_line(line + "\n", number, limits)
        if len(pending) > limits.max_line_chars:
            raise AnnotationsError(
                f"line {number + 1} is longer than {limits.max_line_chars:,} characters;"
                " expected one caption per line"
            )
        if not chunk:
            if pending:
                yield _checked_line(pending, number + 1, limits)
            return


def _checked_line(line: str, number: int, limits: AnnotationLimits) -> str:
    if len(line) > limits.max_line_chars + 1:
        raise AnnotationsError(
            f"line {number} is longer than {limits.max_line_chars:,} characters; expected one caption per line"
        )
    if "\x00" in line:
        raise AnnotationsError(f"line {number} holds a NUL character; expected a text table")
    return line


def read_annotations(stream: IO[bytes], *, limits: AnnotationLimits | None = None) -> Iterator[Annotation]:
    """Stream the rows of a caption -> video table (format in the module docstring).

    Raises (while iterating):
        AnnotationsError: the file breaks the format or a limit; the message names the line.

    >>> import io
    >>> rows = read_annotations(io.BytesIO(b"video_id\\tcaption\\nv1\\ta dog runs\\n"))
    >>> [(r.video_id, r.caption) for r in rows]
    [('v1', 'a dog runs')]
    """
    limits = limits or AnnotationLimits()
    lines = _lines(stream, limits)
    header_line = next(lines, None)
    if header_line is None or not header_line.strip():
        raise AnnotationsError(
            "the file is empty; expected a header line naming the columns caption and video_id"
        )
    tsv = "\t" in header_line
    options: dict[str, Any] = (
        {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tsv else {"delimiter": ",", "strict": True}
    )
    header = [name.strip().casefold() for name in next(csv.reader([header_line], **options))]
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        raise AnnotationsError(
            f"the header line names {', '.join(repr(h) for h in header[:8]) or 'no column'};"
            " expected the columns caption and video_id (and optionally dataset),"
            " tab- or comma-separated"
        )
    caption_at, video_at = header.index("caption"), header.index("video_id")
    dataset_at = header.index("dataset") if "dataset" in header else None
    needed = max(caption_at, video_at, dataset_at or 0) + 1
    reader = csv.reader(lines, **options)
    rows = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise AnnotationsError(
                f"line {reader.line_num + 1}: {exc}; expected {'tab' if tsv else 'comma'}-separated columns"
            ) from None
        if not row or all(not cell.strip() for cell in row):
            continue
        rows += 1
        if rows > limits.max_rows:
            raise AnnotationsError(
                f"the file has more than {limits.max_rows:,} rows; expected at most that many"
            )
        if len(row) < needed:
            raise AnnotationsError(
                f"line {reader.line_num + 1} has {len(row)} column(s); expected {needed}"
                f" ({'tab' if tsv else 'comma'}-separated, as the header)"
            )
        video = row[video_at].strip()
        if not video:
            raise AnnotationsError(
                f"line {reader.line_num + 1} has an empty video_id; expected the video the caption describes"
            )
        dataset = row[dataset_at].strip() if dataset_at is not None else ""
        yield Annotation(caption=row[caption_at], video_id=video, dataset=dataset or None)


# ------------------------------------------------------------------------------------------ audit


@dataclass(frozen=True)
class CaptionAudit:
    """What one dataset's query texts give away, given the public annotations (when supplied).

    Attributes:
        num_queries: queries of the split.
        with_text: queries whose text is not empty.
        annotated: public annotations were supplied; the counts below are 0 otherwise.
        found: queries whose text appears in the annotations (for any video).
        unique: queries whose text names exactly one video of the split.
        unique_correct: of those, the queries whose named video is their answer (the lookup's R@1 hits).
    """

    dataset: str
    num_queries: int
    with_text: int
    annotated: bool = False
    found: int = 0
    unique: int = 0
    unique_correct: int = 0

    @property
    def lookup_r1(self) -> float:
        """R@1 (%) of the lookup attack on this dataset (queries without a unique match count as misses)."""
        return 100.0 * self.unique_correct / self.num_queries if self.num_queries else 0.0

    @property
    def leaks(self) -> bool:
        return self.unique_correct > 0

    def findings(self) -> list[str]:
        """Plain sentences: what a participant can look up."""
        if not self.with_text:
            return []
        if not self.annotated:
            return [
                f"{self.with_text:,} of {self.num_queries:,} queries carry text; no public annotations were"
                " supplied, so the audit cannot say whether it can be looked up"
            ]
        return [
            f"{self.with_text:,} of {self.num_queries:,} queries carry text; {self.found:,} captions appear in"
            f" the public annotations and {self.unique:,} name exactly one video of the split"
            f" ({self.unique_correct:,} its answer: a lookup scores R@1 = {self.lookup_r1:.1f})"
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "num_queries": self.num_queries,
            "with_text": self.with_text,
            "annotated": self.annotated,
            "found": self.found,
            "unique": self.unique,
            "unique_correct": self.unique_correct,
            "lookup_r1": round(self.lookup_r1, 2),
            "leaks": self.leaks,
            "findings": self.findings(),
        }


@dataclass
class _Match:
    """What the annotations say about one normalised caption of one dataset: constant memory per caption."""

    found: bool = False
    video: str | None = None  # the one split video it names, while it names exactly one
    several: bool = False


@dataclass
class _DatasetIndex:
    truth: DatasetTruth
    keys: list[str]
    videos: frozenset[str]
    matches: dict[str, _Match] = field(default_factory=dict)


def audit_captions(
    truth: GroundTruth, annotations: Iterable[Annotation] | None = None
) -> dict[str, dict[str, Any]]:
    """`CaptionAudit` of every dataset, as JSON-ready dicts keyed by dataset name.

    Args:
        truth: the organiser's ground truth (its `query_text`, `videos` and answers).
        annotations: the public caption -> video table (`read_annotations`, or rows from an expert
            store); None when the organiser supplied none.
    Raises:
        AnnotationsError: from `read_annotations`, while the table is read.
    """
    indexes: dict[str, _DatasetIndex] = {}
    for name, d in truth.datasets.items():
        texts = d.query_text or ("",) * d.num_queries
        keys = [normalise_caption(text) for text in texts]
        indexes[name] = _DatasetIndex(
            truth=d,
            keys=keys,
            videos=frozenset(d.videos),
            matches={key: _Match() for key in keys if key},
        )
    if annotations is not None:
        _match(indexes, annotations)
    out = {}
    for name, index in indexes.items():
        d = index.truth
        with_text = sum(1 for key in index.keys if key)
        found = unique = correct = 0
        if annotations is not None:
            for key, video in zip(index.keys, d.query_video.tolist(), strict=True):
                match = index.matches.get(key) if key else None
                if match is None or not match.found:
                    continue
                found += 1
                if match.video is not None and not match.several:
                    unique += 1
                    correct += match.video == d.videos[video]
        out[name] = CaptionAudit(
            dataset=name,
            num_queries=d.num_queries,
            with_text=with_text,
            annotated=annotations is not None,
            found=found,
            unique=unique,
            unique_correct=correct,
        ).as_dict()
    return out


def _match(indexes: dict[str, _DatasetIndex], annotations: Iterable[Annotation]) -> None:
    names = tuple(indexes)
    resolved: dict[str, str | None] = {}
    for row in annotations:
        if row.dataset is None:
            targets: Iterable[_DatasetIndex] = indexes.values()
        else:
            if row.dataset not in resolved:
                if len(resolved) > 10_000:  # a hostile file with endless dataset names: stop caching
                    resolved.clear()
                try:
                    resolved[row.dataset] = canonical_dataset_name(row.dataset, known=names)
                except SubmissionFormatError:
                    resolved[row.dataset] = None
            target = resolved[row.dataset]
            if target is None:
                continue
            targets = (indexes[target],)
        key = None
        for index in targets:
            if not index.matches:
                continue
            if key is None:
                key = normalise_caption(row.caption)
            match = index.matches.get(key)
            if match is None:
                continue
            match.found = True
            if row.video_id not in index.videos or match.video == row.video_id:
                continue
            if match.video is None:
                match.video = row.video_id
            else:
                match.several = True
