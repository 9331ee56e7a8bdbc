"""Checks of a submission's declared shapes against a phase, before any array data is read.

The same checks run on the server (against the hidden ground truth) and offline (against the
public shapes of a starter kit), so a participant sees the server's message before uploading.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SubmissionFormatError
from .ground_truth import GroundTruth
from .io import (
    KIND_EMBEDDINGS,
    KIND_SIMILARITY,
    KIND_TOPK,
    MIN_TOPK,
    ReadLimits,
    SubmissionManifest,
    TopkBounds,
    load_entry,
)

MISSING_DATASET_MESSAGE = "dataset {name} is not part of this phase; the phase's datasets are {known}"
BLIND_TOPK_NEEDS_IDS = (
    "this phase is blind: its queries are published in a secret order under opaque ids (the starter kit's"
    " queries.tsv), so a CSV of bare video indices, such as the 2020 challenge's client writes in the"
    " organisers' grouped-by-video order, cannot be matched to its queries; expected every row to start"
    " with its query's id, as 'query_id,index,index,...'"
)
#: Appended to a row-count error in a blind phase: the one layout it accepts, and why.
BLIND_ROWS_HINT = (
    "; this phase is blind: rows follow the starter kit's queries.tsv (secret order, opaque ids), one per"
    " query, so the padded videos x captions layout and files in the organisers' grouped-by-video order"
    " (such as the 2020 challenge's) are not accepted"
)


TRANSPOSED_MESSAGE = (
    "{what} is transposed: it has shape ({rows:,}, {cols:,}), which is (videos x queries); expected "
    "(queries x videos), ({queries:,}, {videos:,}), one row per query and one column per video: "
    "transpose it (e.g. sims.T) before saving"
)
SWAPPED_EMBEDDINGS_MESSAGE = (
    "text and video embeddings are swapped: the text embeddings have {text:,} rows (one per video) "
    "and the video embeddings {video:,} (one per query); expected the text embeddings with one row "
    "per query and the video embeddings with one row per video: swap them"
)


@dataclass(frozen=True)
class DatasetShape:
    """The public shape of one dataset of a phase: what a starter kit reveals.

    Attributes:
        num_queries: Q, rows of the compact layout, in the published query order.
        num_videos: V, columns, in the published video order.
        captions_per_video: K of the padded grouped layout, or None when the phase does not group
            queries by video (then only the compact layout is accepted).
        blind: the phase publishes its queries blind (compact layout only, top-k rows name their query).
    """

    num_queries: int
    num_videos: int
    captions_per_video: int | None = None
    blind: bool = False

    @property
    def accepted_rows(self) -> tuple[int, ...]:
        rows = [self.num_queries]
        if (
            self.captions_per_video is not None
            and self.num_videos * self.captions_per_video != self.num_queries
        ):
            rows.append(self.num_videos * self.captions_per_video)
        return tuple(rows)

    def topk_bounds(self, gallery: Sequence[str] | None = None) -> TopkBounds:
        """How far a top-k file of this dataset is read: Q rows of at most V indices (or, with the
        dataset's `gallery` ids in column order, of its ids)."""
        if gallery is not None:
            if len(gallery) != self.num_videos:
                raise SubmissionFormatError(
                    f"the gallery list has {len(gallery):,} ids; expected {self.num_videos:,}, one per video"
                )
            return TopkBounds.for_gallery(rows=self.num_queries, gallery=gallery)
        return TopkBounds(rows=self.num_queries, videos=self.num_videos)

    def rows_text(self) -> str:
        rows = self.accepted_rows
        if self.blind:
            return f"{rows[0]:,} rows (one per query, in the order of queries.tsv)"
        if len(rows) == 1:
            return f"{rows[0]:,} rows (one per query)"
        return (
            f"{rows[0]:,} rows (one per query) or {rows[1]:,} rows (the padded layout,"
            f" {self.num_videos:,} videos x {self.captions_per_video} caption slots)"
        )


def shapes_from_truth(truth: GroundTruth) -> dict[str, DatasetShape]:
    return {
        name: DatasetShape(
            num_queries=d.num_queries,
            num_videos=d.num_videos,
            captions_per_video=d.captions_per_video if d.query_masks is not None else None,
            blind=truth.blind,
        )
        for name, d in truth.datasets.items()
    }


def shapes_from_json(path: str | os.PathLike[str]) -> dict[str, DatasetShape]:
    """Read public shapes: {"query_order": ..., "datasets": {name: {"num_queries", "num_videos",
    "captions_per_video"}}}.

    Accepts the starter kit's `shapes.json` and also a bare {name: {...}} mapping.
    """
    try:
        raw = json.loads(Path(path).read_text())
        table = raw.get("datasets", raw)
        blind = raw.get("query_order") == "blind"
        shapes = {}
        for name, spec in table.items():
            captions = int(spec.get("captions_per_video") or 1)
            shapes[name] = DatasetShape(
                num_queries=int(spec["num_queries"]),
                num_videos=int(spec["num_videos"]),
                captions_per_video=captions if captions > 1 and not blind else None,
                blind=blind,
            )
        return shapes
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SubmissionFormatError(
            f"cannot read the public shapes ({exc}); expected JSON with, per dataset,"
            " num_queries and num_videos",
            member=Path(path).name,
        ) from exc


def check_manifest(manifest: SubmissionManifest, shapes: dict[str, DatasetShape]) -> None:
    """Reject a submission whose declared arrays cannot fit the phase.

    Raises:
        SubmissionFormatError: a dataset not in the phase, wrong numbers of rows or columns,
            embeddings of different dimensions, a top-k list narrower than 10.
    """
    for name, entry in manifest.entries.items():
        shape = shapes.get(name)
        if shape is None:
            raise SubmissionFormatError(
                MISSING_DATASET_MESSAGE.format(name=name, known=", ".join(shapes)),
                dataset=name,
                member=entry.members,
            )
        if entry.kind == KIND_SIMILARITY:
            info = entry.arrays["sims"]
            rows, cols = info.shape
            if rows == shape.num_videos and cols in shape.accepted_rows and rows != cols:
                raise SubmissionFormatError(
                    TRANSPOSED_MESSAGE.format(
                        what="similarity matrix", rows=rows, cols=cols, queries=cols, videos=rows
                    ),
                    dataset=name,
                    member=info.member,
                )
            if cols != shape.num_videos or rows not in shape.accepted_rows:
                raise SubmissionFormatError(
                    f"similarity matrix has shape ({rows:,}, {cols:,}); expected {shape.rows_text()} and"
                    f" {shape.num_videos:,} columns (one per video)" + _blind_hint(shape, rows),
                    dataset=name,
                    member=info.member,
                )
        elif entry.kind == KIND_EMBEDDINGS:
            text, video = entry.arrays["text"], entry.arrays["video"]
            if (
                text.shape[0] == shape.num_videos
                and video.shape[0] in shape.accepted_rows
                and text.shape[0] != video.shape[0]
            ):
                raise SubmissionFormatError(
                    SWAPPED_EMBEDDINGS_MESSAGE.format(text=text.shape[0], video=video.shape[0]),
                    dataset=name,
                    member=text.member,
                )
            if text.shape[0] not in shape.accepted_rows:
                raise SubmissionFormatError(
                    f"text embeddings have {text.shape[0]:,} rows; expected {shape.rows_text()}"
                    + _blind_hint(shape, text.shape[0]),
                    dataset=name,
                    member=text.member,
                )
            if video.shape[0] != shape.num_videos:
                raise SubmissionFormatError(
                    f"video embeddings have {video.shape[0]:,} rows; expected {shape.num_videos:,}, one per video",
                    dataset=name,
                    member=video.member,
                )
            if text.shape[1] < 1:
                raise SubmissionFormatError(
                    "embeddings have dimension 0; expected at least 1", dataset=name, member=text.member
                )


def topk_rows_in_query_order(
    topk: np.ndarray,
    row_ids: np.ndarray | None,
    query_ids: tuple[str, ...],
    shape: DatasetShape,
    *,
    dataset: str,
    member: str,
) -> np.ndarray:
    """Top-k rows in the phase's query order: as given, or placed by the query id each row names.

    Raises:
        SubmissionFormatError: a blind phase and rows without ids; an unknown, repeated or missing id.
    """
    if row_ids is None:
        if shape.blind:
            raise SubmissionFormatError(BLIND_TOPK_NEEDS_IDS, dataset=dataset, member=member)
        return topk
    index = {query: row for row, query in enumerate(query_ids)}
    rows = np.fromiter((index.get(str(query), -1) for query in row_ids), dtype=np.int64, count=len(row_ids))
    if (rows < 0).any():
        line = int(np.flatnonzero(rows < 0)[0])
        raise SubmissionFormatError(
            f"row {line + 1} names the query {str(row_ids[line])[:80]!r}, which this phase does not have;"
            " expected the ids of the starter kit's queries.tsv",
            dataset=dataset,
            member=member,
        )
    counts = np.bincount(rows, minlength=len(query_ids))
    if counts.max(initial=0) > 1:
        repeated = query_ids[int(np.argmax(counts))]
        raise SubmissionFormatError(
            f"names the query {repeated!r} on more than one row; expected each query once",
            dataset=dataset,
            member=member,
        )
    if rows.size != len(query_ids):
        missing = query_ids[int(np.flatnonzero(counts == 0)[0])]
        raise SubmissionFormatError(
            f"has {rows.size:,} rows; expected {len(query_ids):,}, one per query (the query {missing!r},"
            " for one, has no row)",
            dataset=dataset,
            member=member,
        )
    ordered = np.empty_like(topk)
    ordered[rows] = topk
    return ordered


def check_topk_file(
    topk: np.ndarray, row_ids: np.ndarray | None, shape: DatasetShape, *, dataset: str, member: str
) -> None:
    """What a parsed top-k CSV must pass before the phase's query ids are at hand (at upload, from the
    phase's shapes alone): rows that name their query where the phase is blind, each id once, then
    `check_topk` (rows, k, index range, repeats; row numbers are the file's). Ids the phase does not
    have are found by the scorer, which reads them from the ground truth.

    >>> shape = DatasetShape(num_queries=2, num_videos=20, blind=True)
    >>> check_topk_file(np.zeros((2, 10), dtype=np.int64), None, shape, dataset="MSVD", member="m.csv")
    Traceback (most recent call last):
    ...
    evaluation.errors.SubmissionFormatError: dataset MSVD, file m.csv: this phase is blind: ...
    """
    if row_ids is None:
        if shape.blind:
            raise SubmissionFormatError(BLIND_TOPK_NEEDS_IDS, dataset=dataset, member=member)
    else:
        names, counts = np.unique(np.asarray(row_ids).astype(str), return_counts=True)
        if counts.max(initial=0) > 1:
            raise SubmissionFormatError(
                f"names the query {str(names[int(np.argmax(counts))])[:80]!r} on more than one row;"
                " expected each query once",
                dataset=dataset,
                member=member,
            )
    check_topk(topk, shape, dataset=dataset, member=member)


def check_topk_lists(
    path: str | os.PathLike[str],
    manifest: SubmissionManifest,
    shapes: dict[str, DatasetShape],
    *,
    limits: ReadLimits | None = None,
    file_name: str | None = None,
    galleries: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Read each top-k member of a submission within its dataset's shapes (`DatasetShape.topk_bounds`:
    the read stops at the first row, column or value beyond them) and check it with `check_topk_file`.
    The upload runs this in the web process, so its memory is bounded by the phase, not by the file.
    `galleries`: each dataset's gallery ids in column order, needed where lists name gallery ids
    (`SubmissionManifest.gallery_id_datasets`); a dataset without one reads indices only.

    Raises:
        SubmissionError: the first violation, with its line.
    """
    for name, entry in manifest.entries.items():
        if entry.kind == KIND_TOPK and name in shapes:
            shape = shapes[name]
            gallery = None if galleries is None else galleries.get(name)
            arrays = load_entry(
                path,
                manifest,
                name,
                limits=limits,
                topk_bounds=shape.topk_bounds(gallery),
                file_name=file_name,
            )
            check_topk_file(
                arrays["topk"], arrays.get("query_ids"), shape, dataset=name, member=entry.members
            )


def _blind_hint(shape: DatasetShape, rows: int) -> str:
    return BLIND_ROWS_HINT if shape.blind and rows != shape.num_queries else ""


def check_topk(topk: np.ndarray, shape: DatasetShape, *, dataset: str, member: str) -> None:
    """Check a parsed top-k list: one row per query, >= 10 distinct in-range video indices per row."""
    rows, k = topk.shape
    if rows != shape.num_queries:
        raise SubmissionFormatError(
            f"has {rows:,} rows; expected {shape.num_queries:,}, one per query",
            dataset=dataset,
            member=member,
        )
    if k < MIN_TOPK:
        raise SubmissionFormatError(
            f"has {k} columns; expected at least {MIN_TOPK} video indices per row",
            dataset=dataset,
            member=member,
        )
    if k > shape.num_videos:
        raise SubmissionFormatError(
            f"has {k} columns; expected at most {shape.num_videos:,}, the number of videos",
            dataset=dataset,
            member=member,
        )
    bad = (topk < 0) | (topk >= shape.num_videos)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise SubmissionFormatError(
            f"row {row + 1} holds video index {int(topk[row, col])}; expected 0-based indices in"
            f" [0, {shape.num_videos - 1}]",
            dataset=dataset,
            member=member,
        )
    ordered = np.sort(topk, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        raise SubmissionFormatError(
            f"row {row + 1} lists a video more than once; expected distinct indices",
            dataset=dataset,
            member=member,
        )
