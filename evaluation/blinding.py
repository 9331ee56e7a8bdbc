"""Blind publication of a phase's queries, and the audit of what uploaded ground truth gives away.

A blind phase never publishes the organiser's query ids or their order: ids such as ``msvd_000092#0``
name each query's video, and captions grouped by video give the answer away by position. Instead each
query gets an opaque id, a keyed hash of the organiser's id under a per-phase secret, and the phase
publishes its queries sorted by that id, which is a secret permutation. The published view is itself a
`GroundTruth` (rows permuted, no grouped layout), so validation and scoring run on it unchanged and the
mapping back to the organiser's rows is implicit.

The ids depend only on (secret, dataset, organiser's query id): replacing the ground truth with a
corrected file that keeps the ids keeps the published order, so submissions made from an earlier kit
stay valid and can be re-scored. See docs/blind-phases.md.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import GroundTruthError
from .ground_truth import DatasetTruth, GroundTruth

#: The phase setting: publish queries blind (the default) or exactly as uploaded.
QUERY_ORDER_BLIND = "blind"
QUERY_ORDER_AS_UPLOADED = "as_uploaded"
QUERY_ORDERS = (QUERY_ORDER_BLIND, QUERY_ORDER_AS_UPLOADED)

#: Opaque ids: a letter (so no tool reads them as numbers) and 80 bits of a keyed BLAKE2b digest.
OPAQUE_ID_PREFIX = "q"
_DIGEST_BYTES = 10
#: Smallest secret accepted: 128 bits.
MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class PublishedDataset:
    """One dataset as a phase publishes it.

    Attributes:
        truth: the published ground truth (opaque ids in the published order; no `query_masks`).
        source_rows: (Q,) for each published row, the row of the organiser's file it comes from.
    """

    truth: DatasetTruth
    source_rows: np.ndarray


def _dataset_key(secret: bytes, dataset: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the blinding secret has {len(secret)} bytes; expected at least {MIN_SECRET_BYTES}")
    return hmac.new(secret, b"pentathlon-blind-queries\0" + dataset.encode(), hashlib.sha256).digest()


def opaque_query_ids(*, secret: bytes, dataset: str, query_ids: tuple[str, ...] | list[str]) -> list[str]:
    """The opaque id of each organiser query id (same order).

    >>> ids = opaque_query_ids(secret=b"s" * 16, dataset="MSVD", query_ids=["v1#0", "v1#1"])
    >>> [len(i) for i in ids], ids[0].startswith("q"), ids[0] != ids[1]
    ([21, 21], True, True)
    """
    key = _dataset_key(secret, dataset)
    return [
        OPAQUE_ID_PREFIX
        + hashlib.blake2b(query.encode(), key=key[:32], digest_size=_DIGEST_BYTES).hexdigest()
        for query in query_ids
    ]


def publish_dataset(truth: DatasetTruth, *, secret: bytes) -> PublishedDataset:
    """The blind view of one dataset: opaque ids, rows sorted by them, text carried along, no grouping.

    Raises:
        GroundTruthError: two query ids hash to the same opaque id (about 1 in 10^14 for 60,000
            queries); a new phase secret fixes it.
        ValueError: a secret shorter than MIN_SECRET_BYTES.
    """
    opaque = np.array(opaque_query_ids(secret=secret, dataset=truth.name, query_ids=truth.query_ids))
    order = np.argsort(opaque, kind="stable")
    published_ids = opaque[order]
    if published_ids.size > 1 and np.any(published_ids[1:] == published_ids[:-1]):
        raise GroundTruthError(
            "two query ids share an opaque id; draw a new phase secret", dataset=truth.name
        )
    text = None if truth.query_text is None else tuple(truth.query_text[i] for i in order)
    published = DatasetTruth(
        name=truth.name,
        videos=truth.videos,
        query_ids=tuple(str(i) for i in published_ids),
        query_video=truth.query_video[order],
        query_masks=None,
        query_text=text,
        relevance=None if truth.relevance is None else truth.relevance.permute_queries(order),
    )
    return PublishedDataset(truth=published, source_rows=order.astype(np.int64))


def publish_ground_truth(truth: GroundTruth, *, query_order: str, secret: bytes | None) -> GroundTruth:
    """The ground truth as a phase publishes and scores it.

    Args:
        truth: the organiser's file, as read by `read_ground_truth`.
        query_order: QUERY_ORDER_BLIND or QUERY_ORDER_AS_UPLOADED.
        secret: the phase's secret (needed when blind).
    Returns:
        `truth` itself when as uploaded; else a GroundTruth with `query_order` "blind" whose datasets
        are the `publish_dataset` views.
    """
    if query_order == QUERY_ORDER_AS_UPLOADED:
        return truth
    if query_order != QUERY_ORDER_BLIND:
        raise ValueError(f"unknown query order {query_order!r}; expected one of {QUERY_ORDERS}")
    if secret is None:
        raise ValueError("a blind phase needs its secret")
    datasets = {name: publish_dataset(d, secret=secret).truth for name, d in truth.datasets.items()}
    return replace(truth, datasets=datasets, query_order=QUERY_ORDER_BLIND)


# ------------------------------------------------------------------------------------------ audit


@dataclass(frozen=True)
class DatasetLeaks:
    """What the organiser's own ids and order reveal about one dataset's answers.

    Attributes:
        ids_equal_video: queries whose id is their video's id.
        ids_contain_video: queries whose id contains their video's id (``video#3``, ``video_caption3``).
        order_follows_videos: the queries come grouped by video in the video list's order.
        identity: one query per video and query i belongs to video i.
        grouped_layout: the file declares the padded videos x captions layout (`query_masks`).
    """

    dataset: str
    num_queries: int
    ids_equal_video: int
    ids_contain_video: int
    order_follows_videos: bool
    identity: bool
    grouped_layout: bool

    @property
    def leaks(self) -> bool:
        return bool(
            self.ids_equal_video or self.ids_contain_video or self.order_follows_videos or self.identity
        )

    def findings(self) -> list[str]:
        """Plain sentences: what a participant could infer if these ids and this order were published."""
        out = []
        if self.identity:
            out.append("query i belongs to video i: a diagonal similarity matrix scores R@1 = 100")
        elif self.order_follows_videos:
            out.append(
                "the queries are grouped by video in the video list's order: the answer of every query"
                " follows from its position and the number of captions per video"
            )
        if self.ids_equal_video:
            out.append(f"{self.ids_equal_video:,} of {self.num_queries:,} query ids equal their video's id")
        elif self.ids_contain_video:
            out.append(
                f"{self.ids_contain_video:,} of {self.num_queries:,} query ids contain their video's id"
            )
        if self.grouped_layout:
            out.append(
                "the padded videos x captions layout is declared (query_masks): it encodes the grouping"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "num_queries": self.num_queries,
            "ids_equal_video": self.ids_equal_video,
            "ids_contain_video": self.ids_contain_video,
            "order_follows_videos": self.order_follows_videos,
            "identity": self.identity,
            "grouped_layout": self.grouped_layout,
            "leaks": self.leaks,
            "findings": self.findings(),
        }


def audit_dataset(truth: DatasetTruth) -> DatasetLeaks:
    """Check one dataset's organiser ids and order for what they reveal about the answers.

    >>> from evaluation.ground_truth import dataset_truth
    >>> d = dataset_truth(name="MSVD", videos=["a", "b"], query_ids=["a#0", "b#0"], query_video=[0, 1])
    >>> audit_dataset(d).findings()[0]
    'query i belongs to video i: a diagonal similarity matrix scores R@1 = 100'
    """
    videos = [truth.videos[v] for v in truth.query_video]
    equal = sum(query == video for query, video in zip(truth.query_ids, videos, strict=True))
    # Ids shorter than four characters ("1", "ab") would be found inside unrelated query ids.
    contain = sum(
        len(video) >= 4 and video in query for query, video in zip(truth.query_ids, videos, strict=True)
    )
    qv = truth.query_video
    follows = bool(qv.size > 1 and np.all(np.diff(qv) >= 0))
    identity = bool(truth.num_queries == truth.num_videos and np.array_equal(qv, np.arange(truth.num_videos)))
    return DatasetLeaks(
        dataset=truth.name,
        num_queries=truth.num_queries,
        ids_equal_video=int(equal),
        ids_contain_video=int(contain),
        order_follows_videos=follows,
        identity=identity,
        grouped_layout=truth.query_masks is not None,
    )


def audit_ground_truth(truth: GroundTruth) -> dict[str, dict[str, Any]]:
    """`audit_dataset` of every dataset, as JSON-ready dicts keyed by dataset name."""
    return {name: audit_dataset(d).as_dict() for name, d in truth.datasets.items()}
