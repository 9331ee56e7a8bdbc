"""The compiled per-row kernel of the relevance metrics (the closed forms in `relevance.py`).

Kept at module level, apart from the numpy code, so that numba's on-disk cache is found again by
every process: a kernel defined inside a function and calling another through a closure gets a new
cache key in each process, and each scoring child compiled it again (11 to 18 s here).
"""

from __future__ import annotations

import numba
import numpy as np

#: With at most this many distinct relevant scores in a row, each is counted by a plain pass; beyond,
#: a bucket table guides a search among them.
DIRECT_SCAN_MAX = 4


@numba.njit(cache=True, nogil=True)
def group_counts(
    row: np.ndarray, scores: np.ndarray, above: np.ndarray, equal: np.ndarray
) -> int:  # pragma: no cover
    """above[k], equal[k]: items scoring above and equal to scores[k] (ascending, distinct).
    Returns the number of non-finite items."""
    d = scores.size
    bad = 0
    for k in range(d):
        above[k] = 0
        equal[k] = 0
    if d <= DIRECT_SCAN_MAX:
        for k in range(d):
            u = scores[k]
            g = 0
            e = 0
            for v in range(row.size):
                x = row[v]
                g += x > u
                e += x == u
            above[k] = g
            equal[k] = e
        for v in range(row.size):
            x = row[v]
            bad += (x - x) != 0
        return bad
    low = scores[0]
    high = scores[d - 1]
    # A bucket table guesses where an item falls among the relevant scores; a short walk finishes.
    # bucket() is monotone, so every score in a lower bucket than x is below x: start[] is a
    # lower bound of the search.
    buckets = 4 * d
    scale = (buckets - 1) / (np.float64(high) - np.float64(low)) if high > low else 0.0
    start = np.empty(buckets + 1, np.int64)
    p = 0
    for bucket in range(buckets + 1):
        while p < d and np.int64((np.float64(scores[p]) - low) * scale) < bucket:
            p += 1
        start[bucket] = p
    hist = np.zeros(d + 1, np.int64)
    for v in range(row.size):
        x = row[v]
        if (x - x) != 0:
            bad += 1
            continue
        if x < low:
            continue
        if x > high:
            hist[d] += 1
            continue
        lo = start[np.int64((np.float64(x) - low) * scale)]
        while scores[lo] < x:  # stops: x <= high = scores[d - 1]
            lo += 1
        if scores[lo] == x:
            equal[lo] += 1
        hist[lo] += 1
    running = 0
    for k in range(d - 1, -1, -1):
        running += hist[k + 1]  # an item whose search stopped at p is above scores[0..p-1]
        above[k] = running
    return bad


@numba.njit(parallel=True, cache=True, nogil=True)
def row_stats(
    sims: np.ndarray,
    rows: np.ndarray,
    indptr: np.ndarray,
    items: np.ndarray,
    grades: np.ndarray,
    map_cuts: np.ndarray,
    recall_cuts: np.ndarray,
    ndcg_cuts: np.ndarray,
    harmonic: np.ndarray,
    discount: np.ndarray,
    first: np.ndarray,
    ap: np.ndarray,
    ap_cut: np.ndarray,
    rprec: np.ndarray,
    recall: np.ndarray,
    dcg_full: np.ndarray,
    dcg_cut: np.ndarray,
    bad_rows: np.ndarray,
) -> None:  # pragma: no cover
    count = rows.size
    for i in numba.prange(count):
        row = sims[rows[i]]
        lo = indptr[i]
        hi = indptr[i + 1]
        nrel = hi - lo
        scores = np.empty(nrel, sims.dtype)
        gains = np.empty(nrel, np.float64)
        for j in range(nrel):
            scores[j] = row[items[lo + j]]
            gains[j] = grades[lo + j]
        order = np.argsort(scores)
        # distinct relevant scores, ascending, with their relevant counts and gain sums
        uniq = np.empty(nrel, sims.dtype)
        rcount = np.zeros(nrel, np.int64)
        gsum = np.zeros(nrel, np.float64)
        d = 0
        for j in range(nrel):
            s = scores[order[j]]
            if d == 0 or uniq[d - 1] != s:
                uniq[d] = s
                d += 1
            rcount[d - 1] += 1
            gsum[d - 1] += gains[order[j]]
        above = np.empty(d, np.int64)
        equal = np.empty(d, np.int64)
        bad_rows[i] = group_counts(row, uniq[:d], above, equal)
        # walk the groups from the best score down
        before = 0  # relevant items in better groups
        ap_sum = 0.0
        ap_cut_sum = np.zeros(map_cuts.size)
        rel_top_r = 0.0
        rel_top_k = np.zeros(recall_cuts.size)
        dcg = 0.0
        dcg_k = np.zeros(ndcg_cuts.size)
        for k in range(d - 1, -1, -1):
            n_above = above[k]
            n = equal[k]
            r = rcount[k]
            if k == d - 1:
                first[i] = n_above + (n - 1) / 2.0
            b = (r - 1.0) / (n - 1.0) if n > 1 else 0.0
            a = before + 1.0
            # AP over positions 1..m of the group
            if n == 1:
                ap_sum += a / (n_above + 1.0)
            else:
                ap_sum += (r / n) * (
                    b * n + (a - b * (n_above + 1.0)) * (harmonic[n_above + n] - harmonic[n_above])
                )
            for c in range(map_cuts.size):
                m = min(max(map_cuts[c] - n_above, 0), n)
                if m > 0:
                    ap_cut_sum[c] += (r / n) * (
                        b * m + (a - b * (n_above + 1.0)) * (harmonic[n_above + m] - harmonic[n_above])
                    )
            m = min(max(nrel - n_above, 0), n)
            rel_top_r += r * m / n
            for c in range(recall_cuts.size):
                m = min(max(recall_cuts[c] - n_above, 0), n)
                rel_top_k[c] += r * m / n
            per = gsum[k] / n
            if n == 1:
                dcg += per / np.log2(n_above + 2.0)
            else:
                dcg += per * (discount[n_above + n] - discount[n_above])
            for c in range(ndcg_cuts.size):
                m = min(max(ndcg_cuts[c] - n_above, 0), n)
                if m == 1 and n == 1:
                    dcg_k[c] += per / np.log2(n_above + 2.0)
                elif m > 0:
                    dcg_k[c] += per * (discount[n_above + m] - discount[n_above])
            before += r
        ap[i] = ap_sum / nrel
        for c in range(map_cuts.size):
            ap_cut[i, c] = ap_cut_sum[c] / nrel
        rprec[i] = rel_top_r / nrel
        for c in range(recall_cuts.size):
            recall[i, c] = rel_top_k[c] / nrel
        dcg_full[i] = dcg
        for c in range(ndcg_cuts.size):
            dcg_cut[i, c] = dcg_k[c]
