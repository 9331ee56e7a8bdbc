"""Retrieval metrics with the exact Collaborative Experts semantics (docs/design.md section 4).

Ranks are 0-based and tie-averaged: a query whose ground-truth video ties with t others is
placed in the middle of the tied positions, never optimistically first. Ranks come from counting
comparisons against the ground-truth score, in row blocks, so memory stays bounded and no sort is
needed. One kernel serves numpy arrays and torch tensors; a CUDA tensor is scored on its GPU.

The counting trick: with ``G`` the number of strictly better scores and ``E`` the number of equal
ones (the ground truth included), the tie-averaged rank is ``G + (E - 1) / 2 = (G + GE - 1) / 2``
where ``GE = G + E`` counts scores ``>=``. So each element costs two comparisons and one add.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import SubmissionFormatError
from . import compiled
from .registry import GEOMETRIC_MEAN_KEY, METRIC_KEYS

DIRECTIONS: tuple[str, ...] = ("t2v", "v2t")

# uint8 column accumulators hold at most 255: two counts per row, so at most 127 rows a block.
_NUMPY_BLOCK_ROWS = 112
_TORCH_BLOCK_ROWS = 8192
NON_FINITE_MESSAGE = "holds NaN or infinite values (in rows {rows}); expected finite similarities"
#: The padded layout's rows are not named: which slots hold captions is not published, and naming
#: the first bad valid row would reveal it.
NON_FINITE_PADDED_MESSAGE = (
    "holds NaN or infinite values in a caption row; expected finite similarities in every row of a caption"
    " (rows of missing captions may hold anything)"
)


def _non_finite(rows: str, *, padded: bool, dataset: str | None, member: str | None) -> SubmissionFormatError:
    message = NON_FINITE_PADDED_MESSAGE if padded else NON_FINITE_MESSAGE.format(rows=rows)
    return SubmissionFormatError(message, dataset=dataset, member=member)


# Below this many elements a single thread is faster than starting a pool.
_PARALLEL_MIN_ELEMENTS = 4_000_000
_MAX_THREADS = 8
# Rows per call of the compiled kernel, so progress is reported a few times per matrix.
_COMPILED_SLICE_ROWS = 4096
# Below this many elements "auto" takes the numpy kernel: it scans 16M float32 in about 25 ms, while
# a fresh process pays about 0.4 s to import numba and load the compiled kernel, and every scoring
# child is a fresh process. Both kernels count the same comparisons, so the ranks are identical.
_COMPILED_MIN_ELEMENTS = 1 << 24

Progress = Callable[[float], None]


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


class _NumpyOps:
    """Block primitives for numpy arrays (the fastest CPU path measured on this machine).

    One instance per scanning thread: it owns the block-sized scratch buffers, so the hot loop
    allocates nothing.
    """

    block_rows = _NUMPY_BLOCK_ROWS

    def __init__(self, videos: int = 0) -> None:
        self._greater = np.empty((self.block_rows, videos), dtype=bool)
        self._greater_equal = np.empty((self.block_rows, videos), dtype=bool)
        # Row counts reach 2 * V; uint16 sums are four times faster than int64 where they fit.
        self._row_dtype = np.uint16 if 2 * videos <= np.iinfo(np.uint16).max else np.int64

    def fresh(self, videos: int) -> _NumpyOps:
        return _NumpyOps(videos)

    @staticmethod
    def compute_dtype(dtype: np.dtype) -> np.dtype:
        # float16 has no native comparison kernel; float32 holds every float16 exactly.
        return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)

    @staticmethod
    def block(
        sims: np.ndarray, start: int, stop: int, rows: np.ndarray | None, dtype: np.dtype
    ) -> np.ndarray:
        blk = sims[start:stop] if rows is None else sims[rows]
        return blk if blk.dtype == dtype else blk.astype(dtype)

    def all_finite(self, blk: np.ndarray) -> bool:
        flags = self._greater[: blk.shape[0]]
        np.isfinite(blk, out=flags)
        return bool(flags.all())

    def _twice_counts(self, blk: np.ndarray, reference: np.ndarray) -> np.ndarray:
        rows = blk.shape[0]
        greater, greater_equal = self._greater[:rows], self._greater_equal[:rows]
        np.greater(blk, reference, out=greater)
        np.greater_equal(blk, reference, out=greater_equal)
        counts: npt.NDArray[np.uint8] = greater.view(np.uint8)
        np.add(counts, greater_equal.view(np.uint8), out=counts)
        return counts

    def twice_rank_rows(self, blk: np.ndarray, own: np.ndarray) -> np.ndarray:
        per_row: npt.NDArray[np.integer[Any]] = self._twice_counts(blk, own[:, None]).sum(
            axis=1, dtype=self._row_dtype
        )
        return per_row

    def twice_rank_cols(self, blk: np.ndarray, best: np.ndarray) -> np.ndarray:
        per_col: npt.NDArray[np.uint8] = self._twice_counts(blk, best[None, :]).sum(axis=0, dtype=np.uint8)
        return per_col

    @staticmethod
    def gather(sims: np.ndarray, rows: np.ndarray, cols: np.ndarray, dtype: np.dtype) -> np.ndarray:
        picked: np.ndarray = sims[rows, cols].astype(dtype)
        return picked

    @staticmethod
    def segment_max(values: np.ndarray, segments: np.ndarray, size: int) -> np.ndarray:
        out = np.full(size, -np.inf, dtype=values.dtype)
        with np.errstate(invalid="ignore"):  # NaN ground-truth values: rejected by the caller anyway
            np.maximum.at(out, segments, values)
        return out

    @staticmethod
    def to_numpy(x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    @staticmethod
    def index(x: np.ndarray, like: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    @staticmethod
    def zeros_counts(size: int, like: np.ndarray) -> np.ndarray:
        return np.zeros(size, dtype=np.int64)


class _TorchOps:
    """The same primitives on torch tensors; used for CUDA tensors."""

    block_rows = _TORCH_BLOCK_ROWS

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def fresh(self, videos: int) -> _TorchOps:
        return self

    def compute_dtype(self, dtype: Any) -> Any:
        return self.torch.float64 if dtype == self.torch.float64 else self.torch.float32

    def block(self, sims: Any, start: int, stop: int, rows: Any, dtype: Any) -> Any:
        blk = sims[start:stop] if rows is None else sims[rows]
        return blk.to(dtype)

    def all_finite(self, blk: Any) -> bool:
        return bool(self.torch.isfinite(blk).all().item())

    def twice_rank_rows(self, blk: Any, own: Any) -> Any:
        return (blk > own[:, None]).sum(dim=1) + (blk >= own[:, None]).sum(dim=1)

    def twice_rank_cols(self, blk: Any, best: Any) -> Any:
        return (blk > best[None, :]).sum(dim=0) + (blk >= best[None, :]).sum(dim=0)

    def gather(self, sims: Any, rows: Any, cols: Any, dtype: Any) -> Any:
        return sims[rows, cols].to(dtype)

    def segment_max(self, values: Any, segments: Any, size: int) -> Any:
        out = self.torch.full((size,), -float("inf"), dtype=values.dtype, device=values.device)
        return out.scatter_reduce(0, segments, values, reduce="amax", include_self=True)

    @staticmethod
    def to_numpy(x: Any) -> np.ndarray:
        array: np.ndarray = x.detach().cpu().numpy()  # x: a torch tensor
        return array

    def index(self, x: np.ndarray, like: Any) -> Any:
        return self.torch.as_tensor(x, device=like.device)

    def zeros_counts(self, size: int, like: Any) -> Any:
        return self.torch.zeros(size, dtype=self.torch.int64, device=like.device)


def _ops_for(sims: Any) -> tuple[Any, Any]:
    """Pick the kernel backend; CPU tensors are viewed as numpy (zero copy), CUDA tensors stay put."""
    if _is_torch(sims):
        if sims.device.type == "cpu":
            return _NumpyOps(), sims.detach().numpy()
        return _TorchOps(), sims.detach()
    return _NumpyOps(), sims


def _check_matrix(sims: Any, *, dataset: str | None, member: str | None) -> None:
    shape = tuple(sims.shape)
    if len(shape) != 2:
        raise SubmissionFormatError(
            f"similarity matrix has shape {shape}; expected 2 dimensions (queries, videos)",
            dataset=dataset,
            member=member,
        )
    dtype = str(sims.dtype).replace("torch.", "")
    if dtype not in ("float16", "float32", "float64"):
        raise SubmissionFormatError(
            f"similarity matrix has dtype {dtype}; expected float16, float32 or float64",
            dataset=dataset,
            member=member,
        )


def _thread_count(threads: int | None, ops: Any, elements: int) -> int:
    if threads is not None:
        return max(1, int(threads))
    if not isinstance(ops, _NumpyOps) or elements < _PARALLEL_MIN_ELEMENTS:
        return 1
    return max(1, min(os.cpu_count() or 1, _MAX_THREADS))


@dataclass
class _BlockScan:
    """One pass over a range of rows: t2v counts per row, v2t counts per column, finiteness."""

    data: Any
    dtype: Any
    valid_index: np.ndarray
    own: Any
    best: Any
    t2v_twice: Any
    dataset: str | None
    member: str | None

    def run(self, ops: Any, first_row: int, stop_row: int, progress: Progress | None) -> Any:
        rows_total = self.data.shape[0]
        all_valid = self.valid_index.size == rows_total
        v2t_twice = ops.zeros_counts(self.data.shape[1], self.data) if self.best is not None else None
        span = max(stop_row - first_row, 1)
        for start in range(first_row, stop_row, ops.block_rows):
            stop = min(start + ops.block_rows, stop_row)
            if all_valid:
                lo, hi = start, stop
                blk = ops.block(self.data, start, stop, None, self.dtype)
            else:
                lo, hi = (int(i) for i in np.searchsorted(self.valid_index, [start, stop]))
                if lo == hi:
                    continue
                rows = self.valid_index[lo:hi]
                contiguous = rows[-1] - rows[0] + 1 == rows.size
                blk = (
                    ops.block(self.data, int(rows[0]), int(rows[-1]) + 1, None, self.dtype)
                    if contiguous
                    else ops.block(self.data, 0, 0, ops.index(rows, self.data), self.dtype)
                )
            if not ops.all_finite(blk):
                raise _non_finite(
                    f"{start}..{stop - 1}", padded=not all_valid, dataset=self.dataset, member=self.member
                )
            if self.t2v_twice is not None:
                self.t2v_twice[lo:hi] = ops.twice_rank_rows(blk, self.own[lo:hi])
            if v2t_twice is not None:
                v2t_twice += ops.twice_rank_cols(blk, self.best)
            if progress is not None:
                progress((stop - first_row) / span)
        return v2t_twice


def _use_compiled(backend: str, ops: Any, data: Any) -> bool:
    if backend not in ("auto", "numpy", "compiled"):
        raise ValueError(f"unknown backend {backend!r}; expected auto, numpy or compiled")
    if backend == "numpy" or not isinstance(ops, _NumpyOps):
        return False
    if backend == "auto" and int(data.size) < _COMPILED_MIN_ELEMENTS:
        return False
    usable = compiled.available() and data.dtype in (np.float32, np.float64)
    if backend == "compiled" and not usable:
        raise ValueError("the compiled kernel needs numba and a float32 or float64 matrix")
    return usable


def _compiled_scan(
    data: np.ndarray,
    valid_index: np.ndarray,
    own: np.ndarray,
    best: np.ndarray,
    *,
    dataset: str | None,
    member: str | None,
    progress: Progress | None,
    want_t2v: bool = True,
    want_v2t: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The doubled counts from the fused compiled kernel (only the wanted directions), in slices for progress."""
    rows = valid_index.astype(np.int64)
    t2v_twice = np.empty(rows.size, dtype=np.int32)
    partial = np.zeros((compiled.thread_count(), data.shape[1]), dtype=np.int64)
    step = max(_COMPILED_SLICE_ROWS, -(-rows.size // 16))
    for start in range(0, rows.size, step):
        stop = min(start + step, rows.size)
        bad = compiled.twice_rank_counts(
            data,
            rows[start:stop],
            own[start:stop],
            best,
            t2v_twice[start:stop],
            partial,
            want_t2v=want_t2v,
            want_v2t=want_v2t,
        )
        if bad >= 0:
            padded = rows.size != data.shape[0]
            raise _non_finite(f"{bad}..{bad}", padded=padded, dataset=dataset, member=member)
        if progress is not None:
            progress(stop / rows.size)
    return t2v_twice.astype(np.float64), partial.sum(axis=0).astype(np.float64)


def retrieval_ranks(
    sims: Any,
    query_video: np.ndarray,
    *,
    valid_rows: np.ndarray | None = None,
    num_videos: int | None = None,
    directions: Sequence[str] = DIRECTIONS,
    dataset: str | None = None,
    member: str | None = None,
    progress: Progress | None = None,
    threads: int | None = None,
    backend: str = "auto",
) -> dict[str, np.ndarray]:
    """Tie-averaged 0-based ranks for both directions in one pass over the matrix.

    Args:
        sims: (R, V) similarities, numpy float16/32/64 or a torch tensor (CPU or CUDA).
        query_video: (R,) ground-truth video of every row (ignored on invalid rows).
        valid_rows: (R,) bool; rows that are False (missing captions) are ignored whatever they hold.
        num_videos: V; taken from the matrix when None.
        directions: any of "t2v", "v2t".
        dataset, member: named in error messages.
        progress: called with the fraction of rows done.
        threads: CPU threads of the numpy kernel; by default the cores, for large matrices.
        backend: "auto" (the compiled fused kernel for float32/64 arrays of at least 2^24 elements
            on the CPU when numba is installed, else numpy), "numpy" or "compiled". CUDA tensors always use torch.
    Returns:
        {"t2v": (Q,) float64 ranks of the valid rows in row order, "v2t": (V,) float64 ranks}.
    Raises:
        SubmissionFormatError: wrong shape or dtype, non-finite values, a video without valid query.
    """
    _check_matrix(sims, dataset=dataset, member=member)
    ops, data = _ops_for(sims)
    rows_total, videos = (int(n) for n in data.shape)
    if num_videos is not None and videos != num_videos:
        raise SubmissionFormatError(
            f"similarity matrix has {videos} columns; expected {num_videos}, one per video",
            dataset=dataset,
            member=member,
        )
    query_video = np.asarray(query_video, dtype=np.int64)
    if query_video.shape != (rows_total,):
        raise ValueError(f"query_video has shape {query_video.shape}; expected ({rows_total},)")
    valid = np.ones(rows_total, dtype=bool) if valid_rows is None else np.asarray(valid_rows, dtype=bool)
    valid_index = np.flatnonzero(valid)
    if valid_index.size == 0:
        raise SubmissionFormatError("no valid query rows", dataset=dataset, member=member)
    gt_valid = query_video[valid_index]
    if gt_valid.min() < 0 or gt_valid.max() >= videos:
        raise ValueError(f"query_video holds indices outside [0, {videos})")
    want_t2v, want_v2t = "t2v" in directions, "v2t" in directions

    dtype = ops.compute_dtype(data.dtype)
    own_all = ops.gather(data, ops.index(valid_index, data), ops.index(gt_valid, data), dtype)
    best = None
    if want_v2t:
        if np.bincount(gt_valid, minlength=videos).min() == 0:
            raise SubmissionFormatError(
                "some video has no valid query; video-to-text ranks need one per video",
                dataset=dataset,
                member=member,
            )
        best = ops.segment_max(own_all, ops.index(gt_valid, data), videos)

    if _use_compiled(backend, ops, data):
        if best is None:
            best = np.full(videos, np.inf, dtype=dtype)  # v2t not wanted: its counts are discarded
        t2v_scanned, v2t_scanned = _compiled_scan(
            data,
            valid_index,
            own_all,
            best,
            dataset=dataset,
            member=member,
            progress=progress,
            want_t2v=want_t2v,
            want_v2t=want_v2t,
        )
        scanned = {"t2v": (t2v_scanned - 1.0) / 2.0, "v2t": (v2t_scanned - 1.0) / 2.0}
        return {direction: scanned[direction] for direction in DIRECTIONS if direction in directions}

    t2v_twice = ops.zeros_counts(valid_index.size, data) if want_t2v else None
    scan = _BlockScan(
        data=data,
        dtype=dtype,
        valid_index=valid_index,
        own=own_all,
        best=best,
        t2v_twice=t2v_twice,
        dataset=dataset,
        member=member,
    )
    workers = _thread_count(threads, ops, rows_total * videos)
    bounds = np.linspace(0, rows_total, workers + 1).astype(int)
    chunks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    if workers == 1:
        partials = [scan.run(ops.fresh(videos), *chunks[0], progress)]
    else:
        # numpy releases the GIL in its ufuncs, so row chunks scan in parallel; only the first
        # chunk reports progress, so callbacks stay on one thread.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(scan.run, ops.fresh(videos), lo, hi, progress if i == 0 else None)
                for i, (lo, hi) in enumerate(chunks)
            ]
            partials = [future.result() for future in futures]
    v2t_twice = None
    if want_v2t:
        v2t_twice = partials[0]
        for partial in partials[1:]:
            v2t_twice = v2t_twice + partial

    ranks: dict[str, np.ndarray] = {}
    if want_t2v:
        ranks["t2v"] = (ops.to_numpy(t2v_twice).astype(np.float64) - 1.0) / 2.0
    if want_v2t:
        ranks["v2t"] = (ops.to_numpy(v2t_twice).astype(np.float64) - 1.0) / 2.0
    return ranks


def metrics_from_ranks(ranks: np.ndarray) -> dict[str, float]:
    """The seven leaderboard numbers from 0-based tie-averaged ranks.

    >>> metrics_from_ranks(np.array([0.0, 0.5, 4.0, 60.0]))["R1"]
    25.0
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("no ranks: at least one query is needed")
    r1 = 100.0 * float(np.mean(ranks == 0))
    r5 = 100.0 * float(np.mean(ranks < 5))
    r10 = 100.0 * float(np.mean(ranks < 10))
    return {
        "R1": r1,
        "R5": r5,
        "R10": r10,
        "R50": 100.0 * float(np.mean(ranks < 50)),
        "MedR": float(np.median(ranks)) + 1.0,
        "MeanR": float(np.mean(ranks)) + 1.0,
        GEOMETRIC_MEAN_KEY: geometric_mean(r1, r5, r10),
    }


def geometric_mean(r1: float, r5: float, r10: float) -> float:
    """(R1 * R5 * R10) ** (1/3), 0 when any is 0."""
    product = r1 * r5 * r10
    return float(product ** (1.0 / 3.0)) if product > 0 else 0.0


def _padded_layout(sims: Any, query_masks: Any | None) -> tuple[np.ndarray, np.ndarray | None, int]:
    rows, videos = (int(n) for n in sims.shape)
    if query_masks is None:
        if rows % videos:
            raise SubmissionFormatError(
                f"similarity matrix has shape ({rows}, {videos}); without query_masks the rows must be"
                f" a whole multiple of the {videos} videos (K captions per video)"
            )
        captions = rows // videos
        return np.repeat(np.arange(videos, dtype=np.int64), captions), None, captions
    masks = query_masks.detach().cpu().numpy() if _is_torch(query_masks) else np.asarray(query_masks)
    if masks.ndim != 2 or masks.shape[0] != videos or masks.shape[0] * masks.shape[1] != rows:
        raise SubmissionFormatError(
            f"query_masks has shape {masks.shape}; expected ({videos}, K) with {videos} x K = {rows} rows"
        )
    captions = masks.shape[1]
    return np.repeat(np.arange(videos, dtype=np.int64), captions), masks.reshape(-1).astype(bool), captions


def t2v_metrics(sims: Any, query_masks: Any | None = None) -> dict[str, float]:
    """Text-to-video metrics of a padded (V*K, V) matrix, or (V, V) with one caption per video.

    Row ``v*K + k`` holds caption k of video v; rows whose mask is 0 are ignored whatever they hold.

    >>> t2v_metrics(np.eye(3))["R1"]
    100.0
    """
    query_video, valid, _ = _padded_layout(sims, query_masks)
    ranks = retrieval_ranks(sims, query_video, valid_rows=valid, directions=("t2v",))["t2v"]
    return metrics_from_ranks(ranks)


def v2t_metrics(sims: Any, query_masks: Any | None = None) -> dict[str, float]:
    """Video-to-text metrics: each video's rank is that of its best caption among all valid captions.

    >>> v2t_metrics(np.zeros((4, 2)))["MeanR"]
    2.5
    """
    query_video, valid, _ = _padded_layout(sims, query_masks)
    ranks = retrieval_ranks(sims, query_video, valid_rows=valid, directions=("v2t",))["v2t"]
    return metrics_from_ranks(ranks)


def compact_metrics(
    sims: Any,
    query_video: np.ndarray | Sequence[int],
    *,
    directions: Sequence[str] = DIRECTIONS,
    valid_rows: np.ndarray | None = None,
    dataset: str | None = None,
    member: str | None = None,
    progress: Progress | None = None,
) -> dict[str, dict[str, float]]:
    """Both directions for a compact (Q, V) matrix whose row q belongs to video ``query_video[q]``.

    >>> compact_metrics(np.eye(2), [0, 1])["v2t"]["R1"]
    100.0
    """
    ranks = retrieval_ranks(
        sims,
        np.asarray(query_video),
        valid_rows=valid_rows,
        directions=directions,
        dataset=dataset,
        member=member,
        progress=progress,
    )
    return {direction: metrics_from_ranks(r) for direction, r in ranks.items()}


def topk_ranks(topk: np.ndarray, query_video: np.ndarray) -> np.ndarray:
    """Rank of each query's ground truth in its top-k list, ``inf`` when it is not listed.

    The list is trusted to hold distinct in-range indices (the reader checks that).

    >>> topk_ranks(np.array([[2, 0, 1], [0, 1, 2]]), np.array([0, 2])).tolist()
    [1.0, 2.0]
    """
    hits = np.asarray(topk) == np.asarray(query_video)[:, None]
    found = hits.any(axis=1)
    return np.where(found, hits.argmax(axis=1), np.inf).astype(np.float64)


def topk_metrics(topk: np.ndarray, query_video: np.ndarray) -> dict[str, float | None]:
    """Metrics computable from top-k lists: R@K for K <= k; MedR, MeanR (and R50 when k < 50) are null."""
    k = int(np.asarray(topk).shape[1])
    ranks = topk_ranks(topk, query_video)
    full = metrics_from_ranks(np.where(np.isinf(ranks), np.float64(k), ranks))
    out: dict[str, float | None] = {}
    for key in METRIC_KEYS:
        cutoff = {"R1": 1, "R5": 5, "R10": 10, "R50": 50}.get(key)
        out[key] = full[key] if cutoff is not None and cutoff <= k else None
    out[GEOMETRIC_MEAN_KEY] = full[GEOMETRIC_MEAN_KEY] if k >= 10 else None
    return out


#: Upper bounds (exclusive, 0-based ranks) of the compact rank histogram's bins, cut to the gallery: a
#: bin never reaches past the number of videos (or the top-k list's length), the last one ends there.
RANK_HISTOGRAM_EDGES: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def rank_histogram(
    ranks: np.ndarray,
    *,
    num_videos: int | None = None,
    topk: int | None = None,
    edges: Sequence[int] = RANK_HISTOGRAM_EDGES,
) -> dict[str, Any]:
    """A compact histogram of 0-based ranks whose bins fit the gallery (for charts; a few dozen bytes).

    Bin i counts ranks in ``[bounds[i-1], bounds[i])`` (``bounds[-1]`` = 0), where `bounds` are the
    `edges` below the gallery's end followed by that end: `num_videos`, or `topk` for top-k lists (a
    rank there is below k). A tie-averaged rank falls in the bin its value lies in (0.5 counts in
    the first bin, "1"). With `topk`, the queries whose video is not in their list (rank ``inf``) get
    their own last bin, labelled "beyond top-k", never a rank bin. Without either size the last bin
    is open (">1000"), as histograms stored before this were.

    Returns:
        ``{"labels": [...], "counts": [...]}`` with 1-based rank labels ("1", "2", "3-5", ...), and
        ``"beyond_topk": k`` when the last bin is the "beyond top-k" one.

    >>> hist = rank_histogram(np.array([0.0, 0.5, 4.0, 60.0, 669.0]), num_videos=670)
    >>> hist["labels"][-3:], hist["counts"]
    (['101-200', '201-500', '501-670'], [2, 0, 1, 0, 0, 0, 1, 0, 0, 1])
    >>> rank_histogram(np.array([0.0, 3.0, 9.0, np.inf, np.inf]), num_videos=670, topk=10)
    {'labels': ['1', '2', '3-5', '6-10', 'beyond top-10'], 'counts': [1, 0, 1, 1, 2], 'beyond_topk': 10}
    >>> rank_histogram(np.array([0.0]))["labels"][-2:]
    ['501-1000', '>1000']
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    given = [int(e) for e in edges]
    if not given or any(b <= a for a, b in zip([0, *given], given, strict=False)):
        raise ValueError(f"edges must be increasing positive integers, got {list(edges)!r}")
    ends = [int(n) for n in (num_videos, topk) if n is not None]
    if any(n <= 0 for n in ends):
        raise ValueError(f"num_videos and topk must be positive, got {num_videos!r} and {topk!r}")
    end = min(ends) if ends else None
    bounds = given if end is None else [e for e in given if e < end] + [end]
    index = np.searchsorted(np.asarray(bounds, dtype=np.float64), ranks, side="right")
    if end is not None and topk is None:
        index = np.minimum(index, len(bounds) - 1)  # a rank is below the gallery's size: never past it
    counts = np.bincount(index, minlength=len(bounds) + 1)
    labels, low = [], 0
    for high in bounds:
        labels.append(str(high) if high - low == 1 else f"{low + 1}-{high}")
        low = high
    out: dict[str, Any] = {"labels": labels, "counts": [int(c) for c in counts[: len(bounds)]]}
    if end is None:
        out["labels"].append(f">{bounds[-1]}")
        out["counts"].append(int(counts[len(bounds)]))
    elif topk is not None:
        out["labels"].append(f"beyond top-{int(topk)}")
        out["counts"].append(int(counts[len(bounds)]))
        out["beyond_topk"] = int(topk)
    return out
