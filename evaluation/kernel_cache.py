"""Fill numba's on-disk cache with every compiled kernel scoring uses, for every array type it meets.

A worker runs this in a process of its own when it starts (workers/warmup.py): each scoring child
starts from a copy of that cache (evaluation.sandbox), so a cold cache would make every child compile
the relevance kernel again (11 to 18 s on the 2-core machine) before scoring a single row. It runs
apart from the worker because compiling takes longer than a pool process may take to report ready,
and a kernel must not run in a process that forks afterwards.

    python -m evaluation.kernel_cache
"""

from __future__ import annotations

import sys
import time

import numpy as np


def _variants(array: np.ndarray) -> list[np.ndarray]:
    """The array as the readers give it: writable, and read-only (a member mapped from the file)."""
    frozen = array.copy()
    frozen.setflags(write=False)
    return [array, frozen]


#: The compiled kernels, each with an on-disk cache (an index file) of its own.
KERNELS = ("rank", "relevance")


def compile_kernels(kernels: tuple[str, ...] = KERNELS) -> float:
    """Run the rank and the relevance kernels (or those of `kernels`) once on each array type; returns
    the seconds it took."""
    from .metrics import compiled
    from .metrics.relevance import Relevance, relevance_metrics
    from .metrics.retrieval import retrieval_ranks

    unknown = set(kernels) - set(KERNELS)
    if unknown:
        raise ValueError(f"unknown kernels {sorted(unknown)}; expected some of {KERNELS}")
    # "auto" keeps small matrices on numpy; the cache needs the compiled kernel itself
    backend = "compiled" if compiled.available() else "numpy"

    began = time.perf_counter()
    table = Relevance.from_triples(
        [0, 0, 1, 2], [0, 1, 1, 2], [1.0, 0.5, 1.0, 1.0], num_queries=3, num_items=3
    )
    for dtype in (np.float32, np.float64):
        for sims in _variants(np.eye(3, dtype=dtype)):
            if "rank" in kernels:
                retrieval_ranks(sims, np.arange(3), num_videos=3, backend=backend)
            if "relevance" in kernels:
                relevance_metrics(
                    sims, table, metrics=("mAP", "nDCG", "RPrec", "mAP@10", "Recall@10", "nDCG@10")
                )
    return time.perf_counter() - began


def main() -> int:
    print(f"scoring kernels compiled or loaded in {compile_kernels():.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
