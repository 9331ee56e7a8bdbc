"""What a submission's headers declare: its arrays, its per-dataset entries and its manifest."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import SubmissionFormatError

KIND_SIMILARITY = "similarity"
KIND_EMBEDDINGS = "embeddings"
KIND_TOPK = "topk"


@dataclass(frozen=True)
class ArrayInfo:
    """What a header declares about one array (`gallery_ids`: a top-k member whose rows name gallery ids,
    a JSON top-k or a CSV under a `gallery_ids` header, read against the dataset's gallery)."""

    member: str
    shape: tuple[int, ...]
    dtype: str
    gallery_ids: bool = False

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize  # Python ints: never overflows


@dataclass(frozen=True)
class SubmissionEntry:
    """One dataset's part of a submission, as declared by headers.

    Attributes:
        dataset: canonical dataset name.
        kind: "similarity", "embeddings" or "topk".
        arrays: role -> ArrayInfo; roles are "sims", "text" + "video", or "topk".
    """

    dataset: str
    kind: str
    arrays: dict[str, ArrayInfo]

    @property
    def members(self) -> str:
        return " + ".join(info.member for info in self.arrays.values())


@dataclass(frozen=True)
class SubmissionManifest:
    """Header-level description of a submission file."""

    container: str
    entries: dict[str, SubmissionEntry] = field(default_factory=dict)

    @property
    def kinds(self) -> dict[str, str]:
        return {name: entry.kind for name, entry in self.entries.items()}

    @property
    def gallery_id_datasets(self) -> tuple[str, ...]:
        """The datasets whose top-k lists name gallery ids: reading them needs the gallery list."""
        return tuple(
            name
            for name, entry in self.entries.items()
            if any(info.gallery_ids for info in entry.arrays.values())
        )


def _entry(dataset: str, kind: str, arrays: dict[str, ArrayInfo]) -> SubmissionEntry:
    if kind == KIND_EMBEDDINGS:
        missing = {"text", "video"} - arrays.keys()
        if missing:
            raise SubmissionFormatError(
                f"embeddings need both '{dataset}_text' and '{dataset}_video'; '{dataset}_{missing.pop()}'"
                " is missing",
                dataset=dataset,
            )
        text, video = arrays["text"], arrays["video"]
        if text.shape[1] != video.shape[1]:
            raise SubmissionFormatError(
                f"text embeddings have dimension {text.shape[1]} but video embeddings {video.shape[1]};"
                " expected the same dimension",
                dataset=dataset,
                member=f"{text.member} + {video.member}",
            )
    return SubmissionEntry(dataset=dataset, kind=kind, arrays=arrays)
