"""Cost of confidence intervals and paired tests for a full test-phase submission (five datasets).

    python benchmarks/bench_intervals.py [--repeats 3] [--blas-threads N] [--entries 10]

Shapes are the 2020 test phase's (MSRVTT 59,794 queries of 2,990 videos, MSVD 27,763 of 670, both
grouped by video; DiDeMo 1,004, YouCook2 3,310, ActivityNet 4,917 with one caption each), scaled
to 0.1x, 0.5x and 1x, at 1000 resamples, and the 1x phase at 500, 1000 and 2000 resamples.
Ranks are simulated (each video has a difficulty its captions share); the cost depends on the
shapes, and for the median on how many distinct ranks lie near it, which the `weak` row (a
submission whose median rank is in the hundreds) shows at its worst.

Rows: `intervals` = `submission_intervals` (7 metrics, t2v and v2t, every dataset, and the overall
score); `paired` = `compare_submissions` (primary score, per dataset and overall); `board` =
`leaderboard_ties` over --entries entries. Time is the best of --repeats runs (wall and CPU), peak
memory the largest tracemalloc peak (numpy allocations included). Figures only; nothing asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's evaluation/, whatever is installed

SIZES = (0.1, 0.5, 1.0)
RESAMPLES = (500, 1000, 2000)


def _phase(scale: float) -> dict[str, Any]:
    """Per dataset: captions per video (an array) for the test phase scaled by `scale`."""
    import numpy as np

    from evaluation.synthetic import PENTATHLON_SIZES

    out = {}
    for name, size in PENTATHLON_SIZES["test"].items():
        videos = max(10, round(size.videos * scale))
        queries = max(videos, round(size.queries * scale))
        captions = np.full(videos, queries // videos)
        captions[: queries - captions.sum()] += 1
        out[name] = np.repeat(np.arange(videos, dtype=np.int32), captions)
    return out


def _submission(groups: dict[str, Any], seed: int, typical_rank: float) -> dict[str, dict[str, Any]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for name, query_video in groups.items():
        videos = int(query_video.max()) + 1
        difficulty = rng.lognormal(0.0, 1.0, size=videos)
        t2v = np.floor(rng.exponential(typical_rank * difficulty[query_video]) * 2.0) / 2.0
        v2t = np.floor(rng.exponential(typical_rank * difficulty) * 2.0) / 2.0
        out[name] = {
            "t2v": np.minimum(t2v, videos - 1).astype(np.float32),
            "v2t": np.minimum(v2t, query_video.size - 1).astype(np.float32),
            "groups": query_video,
            "topk": None,
        }
    return out


def _measure(fn: Callable[[], Any], repeats: int) -> tuple[float, float, int]:
    best_wall = best_cpu = float("inf")
    peak = 0
    for _ in range(repeats):
        tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return best_wall, best_cpu, peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--entries", type=int, default=10, help="leaderboard entries for the board row")
    parser.add_argument(
        "--blas-threads", type=int, default=None, help="OPENBLAS/OMP threads (default: theirs)"
    )
    args = parser.parse_args(argv)
    if args.blas_threads is not None:  # read by OpenBLAS when numpy is first imported, below
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(args.blas_threads)

    from evaluation.uncertainty import compare_submissions, leaderboard_ties, pack_ranks, submission_intervals

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{os.cpu_count()} CPUs, load average {load:.1f}, BLAS threads {args.blas_threads or 'default'},"
        f" best of {args.repeats}"
    )
    print(f"{'case':<22} {'queries':>8} {'resamples':>9} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}")
    cases = [(scale, 1000, 4.0) for scale in SIZES] + [(1.0, r, 4.0) for r in RESAMPLES if r != 1000]
    cases.append((1.0, 1000, 150.0))
    for scale, resamples, typical_rank in cases:
        groups = _phase(scale)
        a, b = _submission(groups, 1, typical_rank), _submission(groups, 2, typical_rank)
        queries = sum(g.size for g in groups.values())
        label = f"{scale:g}x" + (" weak" if typical_rank > 10 else "")
        rows = [
            ("intervals", lambda a=a, r=resamples: submission_intervals(a, resamples=r)),
            ("paired", lambda a=a, b=b, r=resamples: compare_submissions(a, b, resamples=r)),
        ]
        for what, fn in rows:
            wall, cpu, peak = _measure(fn, args.repeats)
            print(
                f"{label + ' ' + what:<22} {queries:>8,} {resamples:>9} {wall:>8.3f} {cpu:>8.3f}"
                f" {peak / 2**20:>9.1f}"
            )
        if scale == 1.0 and resamples == 1000 and typical_rank < 10:
            entries = [_submission(groups, seed, typical_rank) for seed in range(args.entries)]
            wall, cpu, peak = _measure(
                lambda entries=entries, names=list(groups): leaderboard_ties(
                    entries, phase_datasets=names, resamples=1000
                ),
                args.repeats,
            )
            print(
                f"{label + f' board of {args.entries}':<22} {queries:>8,} {resamples:>9}"
                f" {wall:>8.3f} {cpu:>8.3f}"
                f" {peak / 2**20:>9.1f}"
            )
            blob = pack_ranks(a)
            print(f"pack_ranks of the 1x submission: {len(blob) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
