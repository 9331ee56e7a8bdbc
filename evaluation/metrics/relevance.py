"""Metrics on sets of relevant items and graded relevance (docs/design.md section 4).

A query may have several relevant items, each with a grade in (0, 1]; every stored item is relevant
to the binary metrics. The ranking of a row is by descending score; tied items are taken in every
order with equal probability, and mAP, nDCG, RPrec and Recall@K are the expected values over those
orders (McSherry and Najork, ECIR 2008), in closed form:

For a tie group (scores equal to u) with N items above it, n items in it, r of them relevant with
grades summing to g, and A relevant items above it, the relevant item at position N + p (p = 1..n) of
a random order has, in expectation, A + 1 + (p - 1)(r - 1)/(n - 1) relevant items at or above it, and
each position holds a relevant item with probability r/n, so the group adds to the AP sum

    (r/n) * sum_{p=1..m} (A + 1 + (p - 1) b) / (N + p),   b = (r - 1)/(n - 1) (0 when n = 1),

with m = n (full list) or the positions of the group within the cut-off; the gain expected at each
position of the group is g/n, so it adds (g/n) * sum_{p=1..m} 1/log2(N + p + 1) to the DCG, and
r * m/n relevant items to any top-m count (RPrec, Recall@K). Only the tie groups holding a relevant
item matter, so a row needs, for each distinct score of its relevant items, the number of items
scoring above it and equal to it: counted in one pass over the row (a binary search among the
relevant scores, guessed by a bucket table, when there are many), never a sort of the row.

The first relevant item's rank (R@K, MedR, MeanR) is the best tie-averaged rank among the relevant
items: `#{v : s_v > b} + (#{v : s_v = b} - 1) / 2` with b the best relevant score; on one relevant
item per query it is the rank of section 4, and it is the video-to-text rule of the Collaborative
Experts code on every dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ..errors import SubmissionFormatError
from .registry import METRIC_KEYS, metric
from .retrieval import NON_FINITE_MESSAGE, metrics_from_ranks

Progress = Callable[[float], None]

RELEVANCE_SHAPES_MESSAGE = (
    "'rel_query', 'rel_item'{grade} have {sizes} entries; expected three 1-D arrays of the same length"
)
RELEVANCE_QUERY_RANGE_MESSAGE = "'rel_query' holds indices outside [0, {n}); expected query indices"
RELEVANCE_ITEM_RANGE_MESSAGE = "'rel_item' holds indices outside [0, {n}); expected indices into 'videos'"
RELEVANCE_DUPLICATE_MESSAGE = (
    "the pair (query {query}, item {item}) appears twice in 'rel_query'/'rel_item'; expected each pair once"
)
RELEVANCE_GRADE_MESSAGE = (
    "'rel_grade' holds values outside (0, 1]; expected grades in (0, 1] (absent means 1)"
)
RELEVANCE_EMPTY_QUERY_MESSAGE = (
    "{count:,} of {total:,} queries have no relevant item (first: query {first}); expected at least one each"
)
#: Directions the relevance metrics are computed in (as for one relevant item per query).
DIRECTIONS: tuple[str, ...] = ("t2v", "v2t")


@dataclass(frozen=True)
class Relevance:
    """Which items are relevant to which queries, with grades; rows sorted by query, then item.

    Attributes:
        num_queries, num_items: Q and V.
        indptr: (Q + 1,) int64; query q's entries are ``indptr[q]:indptr[q + 1]``.
        items: (nnz,) int64 item index of each entry.
        grades: (nnz,) float64 grade in (0, 1] of each entry.
    """

    num_queries: int
    num_items: int
    indptr: np.ndarray
    items: np.ndarray
    grades: np.ndarray

    @classmethod
    def from_triples(
        cls,
        rel_query: Any,
        rel_item: Any,
        rel_grade: Any | None = None,
        *,
        num_queries: int,
        num_items: int,
        every_query: bool = True,
    ) -> Relevance:
        """Check and build from triples (query, item, grade); `rel_grade` None means grade 1.

        Raises:
            ValueError: mismatched lengths, indices out of range, a repeated pair, a grade outside
                (0, 1], or (with `every_query`) a query without a relevant item; the message says
                what was expected.
        """
        query = np.asarray(rel_query)
        item = np.asarray(rel_item)
        grade = None if rel_grade is None else np.asarray(rel_grade)
        parts = [query, item] if grade is None else [query, item, grade]
        if any(a.ndim != 1 for a in parts) or len({a.shape[0] for a in parts}) != 1:
            sizes = " and ".join(str(a.shape) for a in parts)
            raise ValueError(
                RELEVANCE_SHAPES_MESSAGE.format(grade="" if grade is None else ", 'rel_grade'", sizes=sizes)
            )
        if query.dtype.kind not in "iu" or item.dtype.kind not in "iu":
            raise ValueError("'rel_query' and 'rel_item' must hold integers; expected int32 indices")
        query = query.astype(np.int64)
        item = item.astype(np.int64)
        if query.size and (query.min() < 0 or query.max() >= num_queries):
            raise ValueError(RELEVANCE_QUERY_RANGE_MESSAGE.format(n=num_queries))
        if item.size and (item.min() < 0 or item.max() >= num_items):
            raise ValueError(RELEVANCE_ITEM_RANGE_MESSAGE.format(n=num_items))
        if grade is None:
            grades = np.ones(query.size, dtype=np.float64)
        else:
            if grade.dtype.kind not in "fiu":
                raise ValueError(RELEVANCE_GRADE_MESSAGE)
            grades = grade.astype(np.float64)
            with np.errstate(invalid="ignore"):
                if not np.all((grades > 0) & (grades <= 1)):
                    raise ValueError(RELEVANCE_GRADE_MESSAGE)
        order = np.lexsort((item, query))
        query, item, grades = query[order], item[order], grades[order]
        if query.size > 1:
            same = (query[1:] == query[:-1]) & (item[1:] == item[:-1])
            if same.any():
                at = int(np.flatnonzero(same)[0])
                raise ValueError(RELEVANCE_DUPLICATE_MESSAGE.format(query=int(query[at]), item=int(item[at])))
        counts = np.bincount(query, minlength=num_queries)
        if every_query and num_queries and counts.min() == 0:
            empty = np.flatnonzero(counts == 0)
            raise ValueError(
                RELEVANCE_EMPTY_QUERY_MESSAGE.format(count=empty.size, total=num_queries, first=int(empty[0]))
            )
        indptr = np.zeros(num_queries + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(int(num_queries), int(num_items), indptr, item, grades)

    @classmethod
    def one_per_query(cls, query_video: Any, num_items: int) -> Relevance:
        """One relevant item (grade 1) per query: the section 4 ground truth as a relevance table."""
        qv = np.asarray(query_video, dtype=np.int64)
        return cls.from_triples(np.arange(qv.size), qv, num_queries=qv.size, num_items=num_items)

    @property
    def nnz(self) -> int:
        return int(self.items.size)

    @property
    def graded(self) -> bool:
        """Whether some grade is below 1."""
        return bool(self.grades.size and self.grades.min() < 1.0)

    def per_query(self) -> np.ndarray:
        """(Q,) number of relevant items of each query."""
        return np.diff(self.indptr)

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rel_query, rel_item, rel_grade) in query, then item order."""
        return (
            np.repeat(np.arange(self.num_queries, dtype=np.int64), self.per_query()),
            self.items,
            self.grades,
        )

    def transpose(self) -> Relevance:
        """Items x queries: the relevance the reverse direction (v2t) ranks with."""
        query, item, grade = self.triples()
        return Relevance.from_triples(
            item, query, grade, num_queries=self.num_items, num_items=self.num_queries, every_query=False
        )

    def permute_queries(self, order: Any) -> Relevance:
        """The table for queries re-ordered so that new query i is old query ``order[i]``."""
        order = np.asarray(order, dtype=np.int64)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        query, item, grade = self.triples()
        return Relevance.from_triples(
            inverse[query], item, grade, num_queries=self.num_queries, num_items=self.num_items
        )

    def first_item(self) -> np.ndarray:
        """(Q,) each query's highest-graded relevant item (the lowest index among equals)."""
        out = np.empty(self.num_queries, dtype=np.int64)
        for q in range(self.num_queries):
            lo, hi = self.indptr[q], self.indptr[q + 1]
            out[q] = self.items[lo + int(np.argmax(self.grades[lo:hi]))] if hi > lo else -1
        return out

    def single_binary(self) -> bool:
        """One relevant item of grade 1 per query: the section 4 case."""
        return bool(np.all(self.per_query() == 1) and not self.graded)


@dataclass(frozen=True)
class RowValues:
    """Per-row values of one direction (rows: queries for t2v, items with a relevant query for v2t).

    Attributes:
        first_rank: 0-based tie-averaged rank of the first relevant item.
        values: {metric key: (rows,) float64 value in [0, 1]} for the relevance metrics asked for.
        rows: the row indices (queries, or items for v2t) the values belong to.
    """

    first_rank: np.ndarray
    values: dict[str, np.ndarray]
    rows: np.ndarray


def _families(keys: Sequence[str]) -> tuple[dict[str, list[int]], list[str]]:
    """Cut-offs asked for per family ("mAP", "Recall", "nDCG"), and the relevance keys in order."""
    cuts: dict[str, list[int]] = {"mAP": [], "Recall": [], "nDCG": []}
    wanted = []
    for key in keys:
        spec = metric(key)
        if key in METRIC_KEYS:
            continue
        wanted.append(key)
        if spec.family in cuts and spec.cutoff is not None:
            cuts[spec.family].append(spec.cutoff)
    return cuts, wanted


@cache
def _kernel() -> Any:
    from .relevance_kernel import row_stats

    return row_stats


def _prefix_tables(size: int) -> tuple[np.ndarray, np.ndarray]:
    """harmonic[m] = sum_{i<=m} 1/i and discount[m] = sum_{i<=m} 1/log2(i + 1), for m = 0..size."""
    steps = np.arange(1, size + 1, dtype=np.float64)
    harmonic = np.zeros(size + 1)
    np.cumsum(1.0 / steps, out=harmonic[1:])
    discount = np.zeros(size + 1)
    np.cumsum(1.0 / np.log2(steps + 1.0), out=discount[1:])
    return harmonic, discount


def ideal_dcg(relevance: Relevance, cutoff: int | None = None) -> np.ndarray:
    """(Q,) DCG of each query's ideal order (its grades, best first), over the top `cutoff` positions.

    >>> ideal_dcg(Relevance.from_triples([0, 0], [0, 1], [1.0, 0.5], num_queries=1, num_items=3)).round(4).tolist()
    [1.3155]
    """
    return ideal_dcgs(relevance, [cutoff])[0]


def ideal_dcgs(relevance: Relevance, cutoffs: Sequence[int | None]) -> list[np.ndarray]:
    """`ideal_dcg` for each cut-off (None: the full list), sorting the grades once."""
    query, _, grade = relevance.triples()
    order = np.lexsort((-grade, query))
    query, grade = query[order], grade[order]
    position = np.arange(query.size) - relevance.indptr[query]
    weighted = grade / np.log2(position + 2.0)
    out = []
    for cutoff in cutoffs:
        values = weighted if cutoff is None else np.where(position < cutoff, weighted, 0.0)
        out.append(np.bincount(query, weights=values, minlength=relevance.num_queries))
    return out


def _sub_relevance(relevance: Relevance, rows: np.ndarray) -> Relevance:
    """The table restricted to `rows` (in that order); rows keep their entries."""
    starts, stops = relevance.indptr[rows], relevance.indptr[rows + 1]
    counts = stops - starts
    pieces = [np.arange(a, b) for a, b in zip(starts, stops, strict=True)]
    take = np.asarray(np.concatenate(pieces) if rows.size else [], dtype=np.int64)
    indptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return Relevance(
        int(rows.size), relevance.num_items, indptr, relevance.items[take], relevance.grades[take]
    )


_SLICE_ROWS = 2048


def relevance_rows(
    sims: np.ndarray,
    relevance: Relevance,
    *,
    metrics: Sequence[str] = (),
    rows: np.ndarray | None = None,
    dataset: str | None = None,
    member: str | None = None,
    progress: Progress | None = None,
) -> RowValues:
    """Per-row first-relevant ranks and relevance metric values of `sims` (rows x items) in one pass.

    Args:
        sims: (R, V) float16/32/64 scores, higher first; row i is ranked against ``relevance`` row i
            (or row ``rows[i]`` of `sims` when `rows` is given).
        relevance: R x V table (each row with at least one relevant item).
        metrics: keys of the relevance metrics wanted (registry keys; rank metrics are ignored here).
    Raises:
        SubmissionFormatError: a non-finite score in a ranked row.
    """
    data = np.asarray(sims)
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float32)
    rows = np.arange(relevance.num_queries, dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    if rows.size != relevance.num_queries or data.shape[1] != relevance.num_items:
        raise ValueError(
            f"scores of shape {data.shape} for {rows.size} rows; expected {relevance.num_items} columns"
        )
    if np.any(relevance.per_query() == 0):
        raise ValueError("every ranked row needs a relevant item")
    cuts, wanted = _families(metrics)
    cut_arrays = {family: np.asarray(sorted(set(ks)) or [1], dtype=np.int64) for family, ks in cuts.items()}
    harmonic, discount = _prefix_tables(int(data.shape[1]))
    count = int(rows.size)
    first = np.empty(count)
    ap = np.empty(count)
    rprec = np.empty(count)
    dcg = np.empty(count)
    ap_cut = np.empty((count, cut_arrays["mAP"].size))
    recall = np.empty((count, cut_arrays["Recall"].size))
    dcg_cut = np.empty((count, cut_arrays["nDCG"].size))
    bad = np.zeros(count, dtype=np.int64)
    kernel = _kernel()
    for start in range(0, count, _SLICE_ROWS):
        stop = min(start + _SLICE_ROWS, count)
        part = _sub_relevance(relevance, np.arange(start, stop)) if (start, stop) != (0, count) else relevance
        kernel(
            data,
            rows[start:stop],
            part.indptr,
            part.items,
            part.grades,
            cut_arrays["mAP"],
            cut_arrays["Recall"],
            cut_arrays["nDCG"],
            harmonic,
            discount,
            first[start:stop],
            ap[start:stop],
            ap_cut[start:stop],
            rprec[start:stop],
            recall[start:stop],
            dcg[start:stop],
            dcg_cut[start:stop],
            bad[start:stop],
        )
        if bad[start:stop].any():
            at = int(rows[start + int(np.flatnonzero(bad[start:stop])[0])])
            raise SubmissionFormatError(
                NON_FINITE_MESSAGE.format(rows=f"{at}..{at}"), dataset=dataset, member=member
            )
        if progress is not None:
            progress(stop / count)
    ndcg_cutoffs = [metric(key).cutoff for key in wanted if metric(key).family == "nDCG"]
    ideals = dict(zip(ndcg_cutoffs, ideal_dcgs(relevance, ndcg_cutoffs), strict=True)) if ndcg_cutoffs else {}
    values: dict[str, np.ndarray] = {}
    for key in wanted:
        spec = metric(key)
        family, cutoff = spec.family, spec.cutoff
        if family == "mAP":
            values[key] = ap if cutoff is None else ap_cut[:, int(np.searchsorted(cut_arrays["mAP"], cutoff))]
        elif family == "RPrec":
            values[key] = rprec
        elif family == "Recall" and cutoff is not None:  # the registry gives every Recall a cut-off
            values[key] = recall[:, int(np.searchsorted(cut_arrays["Recall"], cutoff))]
        elif family == "nDCG":
            gained = dcg if cutoff is None else dcg_cut[:, int(np.searchsorted(cut_arrays["nDCG"], cutoff))]
            values[key] = gained / ideals[cutoff]
        else:  # pragma: no cover - the registry has no other relevance family
            raise KeyError(key)
    return RowValues(first_rank=first, values=values, rows=rows)


def summarise(row_values: RowValues) -> dict[str, float]:
    """The rank metrics (section 4, from the first relevant ranks) and the means of the others, in %."""
    out = metrics_from_ranks(row_values.first_rank)
    for key, values in row_values.values.items():
        out[key] = 100.0 * float(np.mean(values))
    return out


def reverse_rows(relevance: Relevance) -> tuple[np.ndarray, Relevance]:
    """The items some query finds relevant, and the transposed table restricted to them (v2t)."""
    transposed = relevance.transpose()
    items = np.flatnonzero(transposed.per_query() > 0)
    return items, _sub_relevance(transposed, items)


def relevance_directions(
    sims: np.ndarray,
    relevance: Relevance,
    *,
    metrics: Sequence[str] = (),
    directions: Sequence[str] = DIRECTIONS,
    dataset: str | None = None,
    member: str | None = None,
    progress: Progress | None = None,
) -> dict[str, RowValues]:
    """`relevance_rows` for text to video (queries ranking items) and video to text (each item some
    query finds relevant ranking the queries, with the transposed relevance).

    >>> sims = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.1]])
    >>> rel = Relevance.from_triples([0, 0, 1], [0, 2, 1], num_queries=2, num_items=3)
    >>> out = relevance_directions(sims, rel, metrics=["mAP"])
    >>> out["t2v"].values["mAP"].tolist(), out["v2t"].rows.tolist()
    ([1.0, 1.0], [0, 1, 2])
    """
    data = np.asarray(sims)
    if data.ndim != 2 or data.shape != (relevance.num_queries, relevance.num_items):
        raise SubmissionFormatError(
            f"similarity matrix has shape {tuple(data.shape)}; expected ({relevance.num_queries},"
            f" {relevance.num_items}), queries x items",
            dataset=dataset,
            member=member,
        )
    out: dict[str, RowValues] = {}
    both = "t2v" in directions and "v2t" in directions
    if "t2v" in directions:
        report = None if progress is None else (lambda f: progress(f / 2 if both else f))
        out["t2v"] = relevance_rows(
            data, relevance, metrics=metrics, dataset=dataset, member=member, progress=report
        )
    if "v2t" in directions:
        items, reverse = reverse_rows(relevance)
        transposed = np.ascontiguousarray(data[:, items].T if items.size != data.shape[1] else data.T)
        report = None if progress is None else (lambda f: progress(0.5 + f / 2 if both else f))
        values = relevance_rows(
            transposed, reverse, metrics=metrics, dataset=dataset, member=member, progress=report
        )
        out["v2t"] = RowValues(first_rank=values.first_rank, values=values.values, rows=items)
    return out


def relevance_metrics(
    sims: np.ndarray,
    relevance: Relevance,
    *,
    metrics: Sequence[str] = (),
    directions: Sequence[str] = DIRECTIONS,
) -> dict[str, dict[str, float]]:
    """Every direction's rank metrics plus the relevance `metrics`, as the scorer reports them.

    >>> rel = Relevance.from_triples([0, 0], [0, 1], [1.0, 0.5], num_queries=1, num_items=3)
    >>> m = relevance_metrics(np.array([[0.9, 0.1, 0.5]]), rel, metrics=["nDCG", "RPrec"], directions=["t2v"])
    >>> round(m["t2v"]["nDCG"], 4), m["t2v"]["RPrec"], m["t2v"]["R1"]
    (95.0234, 50.0, 100.0)
    """
    rows = relevance_directions(sims, relevance, metrics=metrics, directions=directions)
    return {direction: summarise(values) for direction, values in rows.items()}


def topk_relevance_metrics(
    topk: np.ndarray, relevance: Relevance, metrics: Sequence[str] = ()
) -> dict[str, Any]:
    """Metrics a top-k list allows on a relevance table: R@K, mAP@K, Recall@K and nDCG@K for K <= k;
    the rest (MedR, MeanR, full-list metrics, RPrec) are None. Lists hold distinct indices, so no ties.

    Returns ``{"metrics": {...}, "first_rank": (Q,) 0-based rank of the first relevant item, inf
    when none is listed, "values": {key: (Q,) per-query value in [0, 1]} of the relevance metrics
    reported (each reported metric is 100 times the mean of its values)}``.
    """
    topk = np.asarray(topk, dtype=np.int64)
    queries, k = topk.shape
    query, item, grade = relevance.triples()
    keys = query * relevance.num_items + item
    listed = (np.arange(queries)[:, None] * relevance.num_items + topk).reshape(-1)
    at = np.minimum(np.searchsorted(keys, listed), max(keys.size - 1, 0))
    hit = keys[at] == listed if keys.size else np.zeros(listed.size, dtype=bool)
    gains = np.where(hit, grade[at] if keys.size else 0.0, 0.0).reshape(queries, k)
    relevant = gains > 0
    found = relevant.any(axis=1)
    first = np.where(found, relevant.argmax(axis=1), np.inf).astype(np.float64)
    full = metrics_from_ranks(np.where(np.isinf(first), np.float64(k), first))
    out: dict[str, float | None] = {}
    for key in METRIC_KEYS:
        cutoff = metric(key).cutoff
        out[key] = full[key] if cutoff is not None and cutoff <= k else None
    out[METRIC_KEYS[-1]] = full[METRIC_KEYS[-1]] if k >= 10 else None
    per_query = relevance.per_query().astype(np.float64)
    positions = np.arange(1, k + 1, dtype=np.float64)
    hits_so_far = np.cumsum(relevant, axis=1)
    values: dict[str, np.ndarray] = {}
    for key in metrics:
        if key in METRIC_KEYS:
            continue
        spec = metric(key)
        cutoff = spec.cutoff
        if cutoff is None or cutoff > k:
            out[key] = None
            continue
        head = slice(0, cutoff)
        if spec.family == "mAP":
            value = (relevant[:, head] * hits_so_far[:, head] / positions[head]).sum(axis=1) / per_query
        elif spec.family == "Recall":
            value = relevant[:, head].sum(axis=1) / per_query
        else:
            value = (gains[:, head] / np.log2(positions[head] + 1.0)).sum(axis=1) / ideal_dcg(
                relevance, cutoff
            )
        values[key] = np.asarray(value, dtype=np.float64)
        out[key] = 100.0 * float(np.mean(values[key]))
    return {"metrics": out, "first_rank": first, "values": values}


__all__ = [
    "DIRECTIONS",
    "Relevance",
    "RowValues",
    "ideal_dcg",
    "relevance_directions",
    "relevance_metrics",
    "relevance_rows",
    "reverse_rows",
    "summarise",
    "topk_relevance_metrics",
]
