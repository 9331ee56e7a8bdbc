"""A literal, per-query brute-force reference of docs/design.md section 4, independent of the fast kernel."""

from __future__ import annotations

import numpy as np


def brute_force_ranks(
    sims: np.ndarray, query_video: list[int], valid: list[bool]
) -> tuple[list[float], list[float]]:
    sims = np.asarray(sims, dtype=np.float64)
    rows, videos = sims.shape
    t2v = []
    for q in range(rows):
        if not valid[q]:
            continue
        own = sims[q, query_video[q]]
        better = sum(1 for v in range(videos) if sims[q, v] > own)
        equal = sum(1 for v in range(videos) if sims[q, v] == own)
        t2v.append(better + (equal - 1) / 2)
    v2t = []
    for v in range(videos):
        caption_ranks = []
        for q in range(rows):
            if not valid[q] or query_video[q] != v:
                continue
            own = sims[q, v]
            better = sum(1 for p in range(rows) if valid[p] and sims[p, v] > own)
            equal = sum(1 for p in range(rows) if valid[p] and sims[p, v] == own)
            caption_ranks.append(better + (equal - 1) / 2)
        v2t.append(min(caption_ranks))
    return t2v, v2t


def brute_force_metrics(ranks: list[float]) -> dict[str, float]:
    n = len(ranks)
    r1 = 100 * sum(r == 0 for r in ranks) / n
    r5 = 100 * sum(r < 5 for r in ranks) / n
    r10 = 100 * sum(r < 10 for r in ranks) / n
    ordered = sorted(ranks)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return {
        "R1": r1,
        "R5": r5,
        "R10": r10,
        "R50": 100 * sum(r < 50 for r in ranks) / n,
        "MedR": median + 1,
        "MeanR": sum(ranks) / n + 1,
        "geometric_mean_R1-R5-R10": (r1 * r5 * r10) ** (1 / 3) if r1 * r5 * r10 > 0 else 0.0,
    }
