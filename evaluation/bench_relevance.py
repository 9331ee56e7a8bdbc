"""`python -m evaluation.bench_relevance`: the relevance metrics against the R@K kernel and against ranx.

At three sizes up to the EPIC-KITCHENS-100 multi-instance retrieval test shape (3,842 captions x
9,668 clips) with dense graded relevance drawn like that benchmark's (a caption and a clip share a
verb class, a noun class or both: grade 0.5 or 1; classes Zipf-distributed), it times:

* every relevance metric of a dataset (mAP, mAP@10, RPrec, Recall@10, nDCG, nDCG@10 and the rank
  metrics), text to video, against the R@K kernel (`retrieval_ranks`, text to video: with fewer
  captions than clips it has no video-to-text direction) on the same matrix, and both directions;
* the text-to-video half against ranx (`ranx.evaluate` on the same runs and grades; its Qrels and
  Run are built outside the timing). ranx needs the run as Python dicts (a few GB at the largest
  size), so with `--ranx-rows` it is timed on that many queries and scaled to all of them.

ranx is a dev dependency; without it that column is skipped. Timings are the best of `--repeat`, in milliseconds. `--shape sparse` runs
CLOTHO-shaped sets instead (DCASE's task: 1 to 4 relevant clips per caption).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from .metrics.relevance import Relevance, relevance_directions
from .metrics.retrieval import retrieval_ranks

SIZES: tuple[tuple[int, int], ...] = ((500, 1_000), (1_500, 4_000), (3_842, 9_668))
#: `--shape sparse`: CLOTHO evaluation-shaped (5 captions per clip, up to 3 further relevant clips).
SPARSE_SIZES: tuple[tuple[int, int], ...] = ((1_305, 261), (2_610, 522), (5_225, 1_045))
KEYS = ("mAP", "mAP@10", "RPrec", "Recall@10", "nDCG", "nDCG@10")
RANX_KEYS = ("map", "map@10", "r-precision", "recall@10", "ndcg", "ndcg@10")


def epic_like(queries: int, items: int, seed: int = 0) -> tuple[np.ndarray, Relevance]:
    """Scores and a dense graded relevance table shaped like EPIC-KITCHENS-100 retrieval."""
    rng = np.random.default_rng(seed)

    def classes(count: int, n: int) -> np.ndarray:
        weights = 1.0 / np.arange(1, count + 1)
        return rng.choice(count, size=n, p=weights / weights.sum())

    qv, qn, iv, inn = classes(97, queries), classes(300, queries), classes(97, items), classes(300, items)
    grades = 0.5 * (qv[:, None] == iv[None, :]) + 0.5 * (qn[:, None] == inn[None, :])
    best = rng.integers(0, items, queries)
    grades[np.arange(queries), best] = 1.0  # every caption has its own clip
    query, item = np.nonzero(grades)
    table = Relevance.from_triples(query, item, grades[query, item], num_queries=queries, num_items=items)
    sims = rng.standard_normal((queries, items)).astype(np.float32) + grades.astype(np.float32)
    return sims, table


def clotho_like(queries: int, items: int, seed: int = 0) -> tuple[np.ndarray, Relevance]:
    """Scores and a sparse relevance table shaped like DCASE's CLOTHO evaluation: each caption's own
    clip (grade 1) and 0 to 3 further relevant clips (grade 1), as in the task since 2025."""
    rng = np.random.default_rng(seed)
    own = np.arange(queries) % items
    extra = rng.integers(0, 4, queries)
    query = np.concatenate([np.arange(queries), np.repeat(np.arange(queries), extra)])
    item = np.concatenate([own, rng.integers(0, items, int(extra.sum()))])
    pairs = np.unique(np.stack([query, item], axis=1), axis=0)
    table = Relevance.from_triples(
        pairs[:, 0], pairs[:, 1], np.ones(len(pairs)), num_queries=queries, num_items=items
    )
    sims = rng.standard_normal((queries, items)).astype(np.float32)
    sims[pairs[:, 0], pairs[:, 1]] += 1.5
    return sims, table


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _ranx_seconds(sims: np.ndarray, table: Relevance, rows: int, repeat: int) -> float | None:
    try:
        from ranx import Qrels, Run, evaluate
    except ImportError:
        return None
    rows = min(rows, sims.shape[0])
    scale = 1000  # ranx takes integer grades; nDCG does not change under scaling
    qrels, run = {}, {}
    for q in range(rows):
        lo, hi = table.indptr[q], table.indptr[q + 1]
        qrels[f"q{q}"] = {
            f"d{i}": int(round(g * scale))
            for i, g in zip(table.items[lo:hi], table.grades[lo:hi], strict=True)
        }
        run[f"q{q}"] = {f"d{i}": float(s) for i, s in enumerate(sims[q])}
    qrels_obj, run_obj = Qrels(qrels), Run(run)
    evaluate(Qrels({"q": {"d": 1}}), Run({"q": {"d": 1.0}}), list(RANX_KEYS))  # compile outside the timing
    seconds = _best(lambda: evaluate(qrels_obj, run_obj, list(RANX_KEYS)), repeat)
    return seconds * int(sims.shape[0]) / rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.bench_relevance", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--ranx-rows", type=int, default=1000, help="queries ranx is timed on (scaled to all)"
    )
    parser.add_argument("--sizes", type=int, default=len(SIZES), help="how many of the sizes to run")
    parser.add_argument(
        "--shape",
        choices=("dense", "sparse"),
        default="dense",
        help="dense: EPIC-KITCHENS-100 graded (default); sparse: CLOTHO-shaped sets of 1 to 4 clips",
    )
    args = parser.parse_args(argv)
    # compile the kernels outside the timings
    warm_sims, warm_table = epic_like(20, 50)
    relevance_directions(warm_sims, warm_table, metrics=KEYS)
    retrieval_ranks(warm_sims, warm_table.first_item(), directions=("t2v",))
    print(
        f"{'queries x items':>17} {'pairs/query':>11} {'R@K kernel':>11} {'all, t2v':>10} {'ratio':>6}"
        f" {'all, both':>10} {'ranx t2v':>10} {'ranx/ours':>9}"
    )
    sizes, make = (SIZES, epic_like) if args.shape == "dense" else (SPARSE_SIZES, clotho_like)
    for queries, items in sizes[: args.sizes]:
        sims, table = make(queries, items)
        query_video = table.first_item()
        kernel = _best(partial(retrieval_ranks, sims, query_video, directions=("t2v",)), args.repeat)
        full = _best(partial(relevance_directions, sims, table, metrics=KEYS), args.repeat)
        t2v = _best(
            partial(relevance_directions, sims, table, metrics=KEYS, directions=("t2v",)), args.repeat
        )
        ranx = _ranx_seconds(sims, table, args.ranx_rows, args.repeat)
        ranx_text = "-" if ranx is None else f"{ranx * 1e3:8.1f}ms"
        ratio_text = "-" if ranx is None else f"{ranx / t2v:8.1f}x"
        print(
            f"{queries:>7,} x {items:>7,} {table.nnz / queries:>11.0f} {kernel * 1e3:>9.1f}ms"
            f" {t2v * 1e3:>8.1f}ms {t2v / kernel:>5.1f}x {full * 1e3:>8.1f}ms {ranx_text:>10} {ratio_text:>9}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
