"""The fused CPU kernel: one read of each element updates both directions' counts.

Compiled with numba when it is installed (it is a dependency of the package; the numpy kernel in
`retrieval.py` is the fallback and the float16 path). Each row chunk keeps its own column counts,
so the parallel loop needs no atomics; the chunks' counts are summed afterwards.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import numpy as np

# numba's default threading layer must not be entered by two Python threads at once; the kernel
# already uses every core, so serialising calls costs nothing.
_LAUNCH_LOCK = threading.Lock()


@cache
def _compiled() -> Any | None:
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(parallel=True, cache=True, nogil=True)
    def twice_rank_counts(
        sims: np.ndarray,
        rows: np.ndarray,
        own: np.ndarray,
        best: np.ndarray,
        t2v_twice: np.ndarray,
        partial_cols: np.ndarray,
        want_t2v: bool,
        want_v2t: bool,
    ) -> np.ndarray:  # pragma: no cover
        chunks = partial_cols.shape[0]
        count = rows.size
        videos = sims.shape[1]
        first_bad = np.full(chunks, -1, np.int64)
        for chunk in numba.prange(chunks):
            lo = chunk * count // chunks
            hi = (chunk + 1) * count // chunks
            cols = partial_cols[chunk]
            for i in range(lo, hi):
                row = sims[rows[i]]
                reference = own[i]
                twice = np.int32(0)
                nonfinite = np.int32(0)
                # One loop per case, so each stays a branch-free vectorisable loop.
                if want_t2v and want_v2t:
                    for v in range(videos):
                        x = row[v]
                        best_v = best[v]
                        nonfinite += np.int32((x - x) != 0)  # NaN and +-inf give NaN here
                        twice += np.int32(x > reference) + np.int32(x >= reference)
                        cols[v] += np.int32(x > best_v) + np.int32(x >= best_v)
                elif want_t2v:
                    for v in range(videos):
                        x = row[v]
                        nonfinite += np.int32((x - x) != 0)
                        twice += np.int32(x > reference) + np.int32(x >= reference)
                else:
                    for v in range(videos):
                        x = row[v]
                        best_v = best[v]
                        nonfinite += np.int32((x - x) != 0)
                        cols[v] += np.int32(x > best_v) + np.int32(x >= best_v)
                t2v_twice[i] = twice
                if nonfinite and first_bad[chunk] < 0:
                    first_bad[chunk] = rows[i]
        return first_bad

    return twice_rank_counts


def available() -> bool:
    return _compiled() is not None


def thread_count() -> int:
    import numba

    return int(numba.get_num_threads())


def twice_rank_counts(
    sims: np.ndarray,
    rows: np.ndarray,
    own: np.ndarray,
    best: np.ndarray,
    t2v_twice: np.ndarray,
    partial_cols: np.ndarray,
    *,
    want_t2v: bool = True,
    want_v2t: bool = True,
) -> int:
    """Fill ``t2v_twice[i]`` (2G + E of row ``rows[i]``) and add 2G + E per column to ``partial_cols``;
    a direction not wanted is skipped (its output left untouched).

    Returns the first row holding a non-finite value, or -1.
    """
    kernel = _compiled()
    if kernel is None:
        raise RuntimeError("numba is not installed")
    with _LAUNCH_LOCK:
        bad = kernel(sims, rows, own, best, t2v_twice, partial_cols, bool(want_t2v), bool(want_v2t))
    found = bad[bad >= 0]
    return int(found.min()) if found.size else -1
