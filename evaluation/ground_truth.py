"""The organiser's hidden ground truth: one HDF5 file per phase, one group per dataset.

Layout (docs/design.md, section 5)::

    /                      attrs: challenge, phase
    /{Dataset}/videos      (V,) strings, the split's video order (the similarity matrix's columns)
    /{Dataset}/query_ids   (Q,) strings, the order in which the phase publishes its queries (rows)
    /{Dataset}/query_video (Q,) int32, index into `videos` of each query's ground-truth video; or,
                           version 2, sets of relevant items as sparse triples instead:
    /{Dataset}/rel_query   (N,) int32, query index of each (query, item) pair
    /{Dataset}/rel_item    (N,) int32, index into `videos` (the gallery) of the pair's item
    /{Dataset}/rel_grade   (N,) float32 in (0, 1], optional: the pair's grade (absent: 1)
    /{Dataset}/query_masks (V, K) uint8, optional: the canonical grouped layout, where row v*K+k of a
                           padded matrix holds caption k of video v and the valid rows, in order, are
                           exactly the queries above.
    /{Dataset}/query_text  (Q,) UTF-8 strings, optional: what each query says (its caption), published
                           beside the opaque query ids of a blind phase.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from . import h5safe
from .datasets import PENTATHLON_DATASETS, canonical_dataset_name, file_dataset_name
from .errors import EvaluationError, GroundTruthError
from .metrics.relevance import RELEVANCE_SHAPES_MESSAGE, Relevance

#: Largest number of queries or videos a ground-truth dataset may declare (guards hostile headers).
MAX_GROUND_TRUTH_ITEMS = 5_000_000
MAX_ID_LENGTH = 256
#: Longest query text accepted (ActivityNet and DiDeMo paragraphs run to a few hundred words).
MAX_QUERY_TEXT_LENGTH = 8192
#: Most dataset groups in a file, and most entries in one group (checked before a group is listed).
MAX_GROUND_TRUTH_GROUPS = 64
NOT_READABLE = "not a readable HDF5 file; expected an intact ground-truth file (docs/design.md, section 5)"
DAMAGED = "damaged HDF5 structure; expected an intact ground-truth file"
#: Most (query, item) pairs a version-2 dataset may declare (a dense EPIC-KITCHENS-100 test split has 37M).
MAX_RELEVANCE_PAIRS = 60_000_000
BOTH_FORMS_MESSAGE = (
    "holds both 'query_video' and 'rel_query'/'rel_item'; expected one of the two forms per dataset"
)
NO_TRUTH_MESSAGE = (
    "missing or malformed 'query_video' (expected a 1-D integer array: one relevant video per query), and no"
    " 'rel_query' with 'rel_item' (version 2: sets of relevant items, graded by an optional 'rel_grade')"
)
RELEVANCE_WITH_MASKS_MESSAGE = (
    "'query_masks' applies to 'query_video' only; expected no 'query_masks' beside 'rel_query'/'rel_item'"
)


@dataclass(frozen=True)
class DatasetTruth:
    """Ground truth of one dataset in one phase.

    Attributes:
        name: canonical dataset name.
        videos: V video ids in column order.
        query_ids: Q query ids in the published row order.
        query_video: (Q,) int64 index of each query's ground-truth video.
        query_masks: (V, K) bool grouped layout, or None when queries are not grouped by video.
        query_text: Q texts (captions) in the row order, or None when the ground truth has none.
        relevance: the sets of relevant items (version 2), or None for one relevant video per query
            (`query_video`). With a table, `query_video` holds each query's highest-graded item.
    """

    name: str
    videos: tuple[str, ...]
    query_ids: tuple[str, ...]
    query_video: np.ndarray
    query_masks: np.ndarray | None = None
    query_text: tuple[str, ...] | None = None
    relevance: Relevance | None = None

    @property
    def one_positive(self) -> bool:
        """One relevant video per query (`query_video`): scored by the section 4 code path."""
        return self.relevance is None

    @property
    def num_videos(self) -> int:
        return len(self.videos)

    @property
    def num_queries(self) -> int:
        return len(self.query_ids)

    @property
    def captions_per_video(self) -> int:
        """K of the padded layout (1 when queries are not grouped)."""
        return 1 if self.query_masks is None else int(self.query_masks.shape[1])

    def padded_rows(self) -> int:
        """Rows of the padded V*K x V layout a submission may use instead of the compact Q x V one."""
        return self.num_videos * self.captions_per_video


@dataclass(frozen=True)
class GroundTruth:
    """A phase's ground truth: datasets in file order."""

    challenge: str
    phase: str
    datasets: dict[str, DatasetTruth] = field(default_factory=dict)
    #: "as_uploaded" for the organiser's file; "blind" for a phase's published view
    #: (`evaluation.blinding.publish_ground_truth`), where only the compact Q x V layout is accepted.
    query_order: str = "as_uploaded"

    @property
    def blind(self) -> bool:
        return self.query_order == "blind"

    def public_shapes(self) -> dict[str, dict[str, int]]:
        """What a starter kit may reveal: counts only, never the query-to-video mapping."""
        return {
            name: {
                "num_queries": d.num_queries,
                "num_videos": d.num_videos,
                "captions_per_video": d.captions_per_video,
            }
            for name, d in self.datasets.items()
        }


def grouped_query_video(query_masks: np.ndarray) -> np.ndarray:
    """Ground-truth video of each valid row of a padded layout, in row order.

    >>> grouped_query_video(np.array([[1, 1], [1, 0]], dtype=bool)).tolist()
    [0, 0, 1]
    """
    rows = np.flatnonzero(np.asarray(query_masks, dtype=bool).reshape(-1))
    return (rows // int(query_masks.shape[1])).astype(np.int64)


def _fail(
    message: str, *, dataset: str | None = None, path: str | os.PathLike[str] | None = None
) -> GroundTruthError:
    return GroundTruthError(message, dataset=dataset, member=Path(path).name if path is not None else None)


def _read_strings(
    group: h5py.Group,
    key: str,
    *,
    dataset: str,
    path: str | os.PathLike[str],
    ids: bool = True,
) -> tuple[str, ...]:
    """A 1-D string array: ids (non-empty, unique, at most MAX_ID_LENGTH) or free text (ids=False)."""
    node = _child(group, key)
    if not isinstance(node, h5py.Dataset):
        raise _fail(f"missing '{key}' (expected a 1-D array of strings)", dataset=dataset, path=path)
    if node.ndim != 1 or node.shape[0] > MAX_GROUND_TRUTH_ITEMS:
        raise _fail(
            f"'{key}' has shape {node.shape}; expected (N,) with N <= {MAX_GROUND_TRUTH_ITEMS:,}",
            dataset=dataset,
            path=path,
        )
    if node.dtype.kind not in "SOU":
        raise _fail(f"'{key}' has dtype {node.dtype}; expected strings", dataset=dataset, path=path)
    try:
        values = node.asstr()[()] if node.dtype.kind in "SO" else node[()]
    except (TypeError, ValueError, UnicodeDecodeError, OSError):
        raise _fail(f"'{key}' cannot be read as UTF-8 strings", dataset=dataset, path=path) from None
    out = tuple(str(v) for v in values)
    if not ids:
        if any(len(v) > MAX_QUERY_TEXT_LENGTH for v in out):
            raise _fail(
                f"'{key}' holds a text longer than {MAX_QUERY_TEXT_LENGTH:,} characters",
                dataset=dataset,
                path=path,
            )
        return out
    if any(len(v) == 0 or len(v) > MAX_ID_LENGTH for v in out):
        raise _fail(
            f"'{key}' holds an empty id or one longer than {MAX_ID_LENGTH} characters",
            dataset=dataset,
            path=path,
        )
    if len(set(out)) != len(out):
        raise _fail(f"'{key}' holds duplicate ids", dataset=dataset, path=path)
    return out


def _validate(truth: DatasetTruth, *, path: str | os.PathLike[str] | None = None) -> None:
    name = truth.name
    if truth.num_videos == 0 or truth.num_queries == 0:
        raise _fail("expected at least one video and one query", dataset=name, path=path)
    qv = truth.query_video
    if truth.relevance is not None:
        rel = truth.relevance
        if (rel.num_queries, rel.num_items) != (truth.num_queries, truth.num_videos):
            raise _fail(
                f"the relevance table is {rel.num_queries} x {rel.num_items}; expected"
                f" {truth.num_queries} queries x {truth.num_videos} videos",
                dataset=name,
                path=path,
            )
        if truth.query_masks is not None:
            raise _fail(RELEVANCE_WITH_MASKS_MESSAGE, dataset=name, path=path)
    if qv.shape != (truth.num_queries,):
        raise _fail(
            f"'query_video' has shape {qv.shape}; expected ({truth.num_queries},), one per query id",
            dataset=name,
            path=path,
        )
    if qv.size and (qv.min() < 0 or qv.max() >= truth.num_videos):
        raise _fail(f"'query_video' holds indices outside [0, {truth.num_videos})", dataset=name, path=path)
    if truth.relevance is None and np.bincount(qv, minlength=truth.num_videos).min() == 0:
        raise _fail("every video needs at least one query; some video has none", dataset=name, path=path)
    if truth.query_text is not None and len(truth.query_text) != truth.num_queries:
        raise _fail(
            f"'query_text' has {len(truth.query_text)} entries; expected {truth.num_queries}, one per query id",
            dataset=name,
            path=path,
        )
    if truth.query_masks is not None:
        masks = truth.query_masks
        if masks.ndim != 2 or masks.shape[0] != truth.num_videos or masks.shape[1] < 1:
            raise _fail(
                f"'query_masks' has shape {masks.shape}; expected ({truth.num_videos}, K)",
                dataset=name,
                path=path,
            )
        if not np.array_equal(grouped_query_video(masks), qv):
            raise _fail(
                "'query_masks' disagrees with 'query_video': in the grouped layout the valid rows,"
                " in order, must be the queries",
                dataset=name,
                path=path,
            )


def dataset_truth(
    *,
    name: str,
    videos: list[str] | tuple[str, ...],
    query_ids: list[str] | tuple[str, ...],
    query_video: np.ndarray | list[int] | None = None,
    query_masks: np.ndarray | None = None,
    query_text: list[str] | tuple[str, ...] | None = None,
    rel_query: np.ndarray | list[int] | None = None,
    rel_item: np.ndarray | list[int] | None = None,
    rel_grade: np.ndarray | list[float] | None = None,
) -> DatasetTruth:
    """Build and validate a DatasetTruth from plain values: `query_video`, or the version-2 triples.

    >>> d = dataset_truth(name="MyClips", videos=["a", "b", "c"], query_ids=["q0", "q1"],
    ...                   rel_query=[0, 0, 1], rel_item=[0, 1, 1], rel_grade=[1.0, 0.5, 1.0])
    >>> d.query_video.tolist(), d.relevance.per_query().tolist()
    ([0, 1], [2, 1])
    """
    relevance = None
    if rel_query is not None or rel_item is not None:
        if query_video is not None:
            raise _fail(BOTH_FORMS_MESSAGE, dataset=name)
        if rel_query is None or rel_item is None:
            raise _fail(NO_TRUTH_MESSAGE, dataset=name)
        relevance = _relevance(
            name, rel_query, rel_item, rel_grade, num_queries=len(query_ids), num_items=len(videos)
        )
        query_video = relevance.first_item()
    elif query_video is None:
        raise _fail(NO_TRUTH_MESSAGE, dataset=name)
    truth = DatasetTruth(
        name=name,
        videos=tuple(videos),
        query_ids=tuple(query_ids),
        query_video=np.asarray(query_video, dtype=np.int64),
        query_masks=None if query_masks is None else np.asarray(query_masks).astype(bool),
        query_text=None if query_text is None else tuple(str(text) for text in query_text),
        relevance=relevance,
    )
    _validate(truth)
    return truth


def _relevance(
    name: str,
    rel_query: object,
    rel_item: object,
    rel_grade: object | None,
    *,
    num_queries: int,
    num_items: int,
    path: str | os.PathLike[str] | None = None,
) -> Relevance:
    try:
        return Relevance.from_triples(
            rel_query, rel_item, rel_grade, num_queries=num_queries, num_items=num_items
        )
    except ValueError as exc:
        raise _fail(str(exc), dataset=name, path=path) from exc


def read_ground_truth(
    path: str | os.PathLike[str], *, datasets: tuple[str, ...] | list[str] | None = None
) -> GroundTruth:
    """Read and validate a ground-truth HDF5 file.

    Args:
        path: the file.
        datasets: the challenge's dataset names; each group must name one of them (case-insensitive).
            None takes the names from the file: a Pentathlon name in any spelling becomes its
            canonical form, any other group keeps its own name.

    Raises:
        GroundTruthError: unreadable file, missing or malformed arrays, indices out of range,
            duplicate ids, a video without queries, or a declared size above the limits.
    """
    try:
        safe = h5safe.SafeFile(path)
    except h5safe.HDF5RuleError:
        raise _fail(NOT_READABLE, path=path) from None
    try:
        return _read_open_ground_truth(safe.root, path, datasets)
    except EvaluationError:
        raise
    except h5safe.HDF5RuleError as exc:  # the HDF5 rule: links, storage outside the file, counts
        raise _fail(exc.detail, path=path) from None
    except (KeyError, RuntimeError, OSError, ValueError, TypeError, IndexError, AttributeError):
        # h5py reports damaged metadata in many ways; every one is an invalid file to the organiser
        raise _fail(DAMAGED, path=path) from None
    finally:
        safe.close()


def _child(group: h5py.Group, key: str) -> h5py.Group | h5py.Dataset | None:
    """`group[key]` under the HDF5 rule (`evaluation.h5safe`), or None when absent."""
    return h5safe.child(group, key, limit=MAX_GROUND_TRUTH_GROUPS)


def _read_relevance(
    group: h5py.Group, name: str, path: str | os.PathLike[str], *, num_queries: int, num_items: int
) -> Relevance:
    """The version-2 triples, each array checked under the HDF5 rule and bounded before any is read."""
    nodes = {}
    for key, kinds in (("rel_query", "iu"), ("rel_item", "iu"), ("rel_grade", "fiu")):
        node = _child(group, key)
        if node is None and key == "rel_grade":
            continue
        if not isinstance(node, h5py.Dataset) or node.ndim != 1 or node.dtype.kind not in kinds:
            expected = "a 1-D float32 array" if key == "rel_grade" else "a 1-D int32 array"
            raise _fail(f"missing or malformed {key!r} (expected {expected})", dataset=name, path=path)
        # a pair is a (query, item) cell: no dataset holds more pairs than cells
        if node.shape[0] > min(MAX_RELEVANCE_PAIRS, num_queries * num_items):
            raise _fail(
                f"{key!r} declares {node.shape[0]:,} pairs; at most"
                f" {min(MAX_RELEVANCE_PAIRS, num_queries * num_items):,} are allowed; expected at most one"
                " pair per (query, item)",
                dataset=name,
                path=path,
            )
        nodes[key] = node
    if len({node.shape[0] for node in nodes.values()}) != 1:
        sizes = " and ".join(str(node.shape) for node in nodes.values())
        raise _fail(
            RELEVANCE_SHAPES_MESSAGE.format(
                grade=", 'rel_grade'" if "rel_grade" in nodes else "", sizes=sizes
            ),
            dataset=name,
            path=path,
        )
    arrays = {key: node[()] for key, node in nodes.items()}
    return _relevance(
        name,
        arrays["rel_query"],
        arrays["rel_item"],
        arrays.get("rel_grade"),
        num_queries=num_queries,
        num_items=num_items,
        path=path,
    )


def _read_open_ground_truth(
    handle: h5py.File, path: str | os.PathLike[str], known: tuple[str, ...] | list[str] | None
) -> GroundTruth:
    datasets: dict[str, DatasetTruth] = {}
    for key in h5safe.keys(handle, limit=MAX_GROUND_TRUTH_GROUPS):
        group = _child(handle, key)
        if not isinstance(group, h5py.Group):
            raise _fail(f"unexpected top-level entry {key!r}; expected one group per dataset", path=path)
        try:
            name = file_dataset_name(key) if known is None else canonical_dataset_name(key, known=known)
        except EvaluationError as exc:
            raise _fail(exc.detail, path=path) from exc
        if name in datasets:
            raise _fail("the dataset appears twice", dataset=name, path=path)
        videos = _read_strings(group, "videos", dataset=name, path=path)
        query_ids = _read_strings(group, "query_ids", dataset=name, path=path)
        relevance = None
        query_node = _child(group, "query_video")
        has_pairs = _child(group, "rel_query") is not None or _child(group, "rel_item") is not None
        if has_pairs and query_node is not None:
            raise _fail(BOTH_FORMS_MESSAGE, dataset=name, path=path)
        if has_pairs:
            relevance = _read_relevance(group, name, path, num_queries=len(query_ids), num_items=len(videos))
            query_video = relevance.first_item()
        else:
            if query_node is None:
                raise _fail(NO_TRUTH_MESSAGE, dataset=name, path=path)
            if (
                not isinstance(query_node, h5py.Dataset)
                or query_node.dtype.kind not in "iu"
                or query_node.ndim != 1
            ):
                raise _fail(
                    "missing or malformed 'query_video' (expected a 1-D integer array)",
                    dataset=name,
                    path=path,
                )
            if query_node.shape[0] != len(query_ids):
                raise _fail(
                    f"'query_video' has {query_node.shape[0]} entries; expected {len(query_ids)}, one per query id",
                    dataset=name,
                    path=path,
                )
            query_video = query_node[()].astype(np.int64)
        masks = None
        mnode = _child(group, "query_masks")
        if mnode is not None:
            if (
                not isinstance(mnode, h5py.Dataset)
                or mnode.ndim != 2
                or mnode.dtype.kind not in "iub"
                or mnode.size > MAX_GROUND_TRUTH_ITEMS * 100
            ):
                raise _fail(
                    "malformed 'query_masks' (expected a (V, K) uint8 array)", dataset=name, path=path
                )
            masks = mnode[()].astype(bool)
        text = None
        if _child(group, "query_text") is not None:
            text = _read_strings(group, "query_text", dataset=name, path=path, ids=False)
        truth = DatasetTruth(
            name=name,
            videos=videos,
            query_ids=query_ids,
            query_video=query_video,
            query_masks=masks,
            query_text=text,
            relevance=relevance,
        )
        _validate(truth, path=path)
        datasets[name] = truth
    if not datasets:
        raise _fail("no dataset groups found; expected one group per dataset", path=path)
    # HDF5 lists groups alphabetically; reports follow the challenge's own order.
    order = {name: i for i, name in enumerate(PENTATHLON_DATASETS if known is None else known)}
    datasets = dict(sorted(datasets.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
    challenge = str(handle.attrs.get("challenge", ""))
    phase = str(handle.attrs.get("phase", ""))
    return GroundTruth(challenge=challenge, phase=phase, datasets=datasets)


def write_ground_truth(path: str | os.PathLike[str], truth: GroundTruth) -> None:
    """Write `truth` in the layout that `read_ground_truth` reads."""
    strings = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as handle:
        handle.attrs["challenge"] = truth.challenge
        handle.attrs["phase"] = truth.phase
        for name, d in truth.datasets.items():
            group = handle.create_group(name)
            group.create_dataset("videos", data=np.array(d.videos, dtype=object), dtype=strings)
            group.create_dataset("query_ids", data=np.array(d.query_ids, dtype=object), dtype=strings)
            if d.relevance is None:
                group.create_dataset("query_video", data=d.query_video.astype(np.int32))
            else:
                rel_query, rel_item, rel_grade = d.relevance.triples()
                group.create_dataset("rel_query", data=rel_query.astype(np.int32))
                group.create_dataset("rel_item", data=rel_item.astype(np.int32))
                if d.relevance.graded:
                    group.create_dataset("rel_grade", data=rel_grade.astype(np.float32))
            if d.query_masks is not None:
                group.create_dataset("query_masks", data=d.query_masks.astype(np.uint8))
            if d.query_text is not None:
                group.create_dataset("query_text", data=np.array(d.query_text, dtype=object), dtype=strings)
