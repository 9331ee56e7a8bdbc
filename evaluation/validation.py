"""Checks of a submission's declared shapes against a phase, before any array data is read.

The same checks run on the server (against the hidden ground truth) and offline (against the
public shapes of a starter kit), so a participant sees the server's message before uploading.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SubmissionFormatError
from .ground_truth import GroundTruth
from .io import KIND_EMBEDDINGS, KIND_SIMILARITY, MIN_TOPK, SubmissionManifest

MISSING_DATASET_MESSAGE = "dataset {name} is not part of this phase; the phase's datasets are {known}"


@dataclass(frozen=True)
class DatasetShape:
    """The public shape of one dataset of a phase: what a starter kit reveals.

    Attributes:
        num_queries: Q, rows of the compact layout, in the published query order.
        num_videos: V, columns, in the published video order.
        captions_per_video: K of the padded grouped layout, or None when the phase does not group
            queries by video (then only the compact layout is accepted).
    """

    num_queries: int
    num_videos: int
    captions_per_video: int | None = None

    @property
    def accepted_rows(self) -> tuple[int, ...]:
        rows = [self.num_queries]
        if (
            self.captions_per_video is not None
            and self.num_videos * self.captions_per_video != self.num_queries
        ):
            rows.append(self.num_videos * self.captions_per_video)
        return tuple(rows)

    def rows_text(self) -> str:
        rows = self.accepted_rows
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
        )
        for name, d in truth.datasets.items()
    }


def shapes_from_json(path: str | os.PathLike[str]) -> dict[str, DatasetShape]:
    """Read public shapes: {"datasets": {name: {"num_queries", "num_videos", "captions_per_video"}}}.

    Accepts the starter kit's `shapes.json` and also a bare {name: {...}} mapping.
    """
    try:
        raw = json.loads(Path(path).read_text())
        table = raw.get("datasets", raw)
        shapes = {}
        for name, spec in table.items():
            captions = int(spec.get("captions_per_video") or 1)
            shapes[name] = DatasetShape(
                num_queries=int(spec["num_queries"]),
                num_videos=int(spec["num_videos"]),
                captions_per_video=captions if captions > 1 else None,
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
            if cols != shape.num_videos or rows not in shape.accepted_rows:
                raise SubmissionFormatError(
                    f"similarity matrix has shape ({rows:,}, {cols:,}); expected {shape.rows_text()} and"
                    f" {shape.num_videos:,} columns (one per video)",
                    dataset=name,
                    member=info.member,
                )
        elif entry.kind == KIND_EMBEDDINGS:
            text, video = entry.arrays["text"], entry.arrays["video"]
            if text.shape[0] not in shape.accepted_rows:
                raise SubmissionFormatError(
                    f"text embeddings have {text.shape[0]:,} rows; expected {shape.rows_text()}",
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
