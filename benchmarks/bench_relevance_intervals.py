"""Blob size and interval time of a relevance dataset (Clotho-shaped, DCASE-style mAP@10 primary).

    python benchmarks/bench_relevance_intervals.py [--repeats 3] [--resamples 1000]

The dataset: Clotho's evaluation split scaled by 0.25, 0.5 and 1 (1,045 audio clips with 5 captions
each, so 5,225 text queries at 1x), each caption relevant to its own clip (grade 1) and, as in DCASE
2025's several relevant clips per query, to 0 to 3 other clips with grades 0.25 to 0.75. Scores are
a noisy signal of the grades. The submission is scored with every default relevance metric and
mAP@10 (`score_dataset(ranks_out=...)`); the rows are the packed blob's size
(`pack_ranks`), the time of `submission_intervals` with mAP@10 as the score metric (the rank
metrics' geometric mean where the code has no relevance intervals), and of `compare_submissions`
of two such submissions. Time is the best of --repeats runs (wall). Figures only; nothing asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's evaluation/, whatever is installed

SIZES = (0.25, 0.5, 1.0)
CLIPS, CAPTIONS = 1045, 5


def _truth(scale: float, seed: int) -> Any:
    import numpy as np

    from evaluation.ground_truth import dataset_truth

    rng = np.random.default_rng(seed)
    clips = max(20, round(CLIPS * scale))
    queries = clips * CAPTIONS
    own = np.repeat(np.arange(clips), CAPTIONS)
    extra = rng.integers(0, 4, size=queries)
    rel_query = [np.arange(queries)]
    rel_item = [own]
    rel_grade = [np.ones(queries)]
    for q in np.flatnonzero(extra):
        others = rng.choice(np.setdiff1d(np.arange(clips), [own[q]]), size=int(extra[q]), replace=False)
        rel_query.append(np.full(others.size, q))
        rel_item.append(others)
        rel_grade.append(rng.choice([0.25, 0.5, 0.75], size=others.size))
    return dataset_truth(
        name="Clotho",
        videos=[f"clip{i}" for i in range(clips)],
        query_ids=[f"cap{i}" for i in range(queries)],
        rel_query=np.concatenate(rel_query).astype(np.int32),
        rel_item=np.concatenate(rel_item).astype(np.int32),
        rel_grade=np.concatenate(rel_grade).astype(np.float32),
    )


def _ranks(truth: Any, seed: int, noise: float) -> dict[str, Any]:
    import numpy as np

    from evaluation.metrics.registry import RELEVANCE_METRIC_KEYS
    from evaluation.scoring import score_dataset

    rng = np.random.default_rng(seed)
    grades = np.zeros((truth.num_queries, truth.num_videos), dtype=np.float32)
    query, item, grade = truth.relevance.triples()
    grades[query, item] = grade
    sims = (grades + rng.normal(0.0, noise, size=grades.shape)).astype(np.float32)
    out: dict[str, Any] = {}
    score_dataset(
        {"sims": sims}, "similarity", truth, member="sims", ranks_out=out, metrics=[*RELEVANCE_METRIC_KEYS]
    )
    return out


def _best(call: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    from evaluation import uncertainty
    from evaluation.uncertainty import compare_submissions, pack_ranks, submission_intervals

    metric = "mAP@10"
    try:
        uncertainty.checks._check_metric(metric)
    except ValueError:
        metric = uncertainty.PRIMARY_METRIC  # the code has no relevance intervals: the rank path's cost
    print(f"score metric of the intervals: {metric}; {args.resamples} resamples; best of {args.repeats}")
    print(f"{'scale':>6} {'queries':>8} {'items':>6} {'blob KiB':>9} {'intervals s':>12} {'paired s':>9}")
    for scale in SIZES:
        truth = _truth(scale, seed=1)
        a, b = _ranks(truth, seed=2, noise=0.5), _ranks(truth, seed=3, noise=0.55)
        blob = pack_ranks(a)
        common = {"resamples": args.resamples, "metric": metric}
        intervals = _best(partial(submission_intervals, a, **common), args.repeats)
        paired = _best(partial(compare_submissions, a, b, **common), args.repeats)
        print(
            f"{scale:>6} {truth.num_queries:>8,} {truth.num_videos:>6,} {len(blob) / 1024:>9.1f}"
            f" {intervals:>12.3f} {paired:>9.3f}"
        )


if __name__ == "__main__":
    main()
