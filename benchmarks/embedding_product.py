"""What the order-independent embedding product costs beside a plain BLAS product, and beside ranking.

Embeddings are scored as S = text @ video.T over the distinct rows of each side, spread back
(docs/design.md, section 4), so the upload's order cannot change a bit of S. For three sizes (queries x
videos, 512 dimensions, one caption in five repeated) it prints the plain product, the distinct-row
product and the whole scoring of the matrix (both directions' ranks and metrics), the median of
--repeats runs each, and the ratios measured in the same run. Usage:

    python benchmarks/embedding_product.py [--repeats 5] [--dim 512]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.metrics import compact_metrics  # noqa: E402
from evaluation.scoring import _similarities_from_embeddings  # noqa: E402

SIZES = ((1_000, 1_000), (2_500, 2_500), (5_000, 5_000))


def _median_seconds(work: Callable[..., object], repeats: int, *args: object) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    compact_metrics(np.eye(8, dtype=np.float32), np.arange(8))  # compile the rank kernel first
    print(
        f"{'queries x videos':>18} {'plain':>9} {'distinct':>9} {'ranking':>9} {'product':>8} {'scoring':>8}"
    )
    for queries, videos in SIZES:
        text = rng.standard_normal((queries, args.dim)).astype(np.float32)
        text[::5] = text[1::5][: len(text[::5])]  # repeated captions, as real test sets have
        video = rng.standard_normal((videos, args.dim)).astype(np.float32)
        truth = rng.permutation(np.arange(queries) % videos)  # every video has a query
        plain = _median_seconds(np.matmul, args.repeats, text, video.T)
        distinct = _median_seconds(_similarities_from_embeddings, args.repeats, text, video, "cpu")
        sims = _similarities_from_embeddings(text, video, "cpu")
        ranking = _median_seconds(compact_metrics, args.repeats, sims, truth)
        print(
            f"{queries:>8,} x {videos:>7,} {plain:>8.3f}s {distinct:>8.3f}s {ranking:>8.3f}s "
            f"{distinct / plain:>7.2f}x {(distinct + ranking) / (plain + ranking):>7.2f}x"
        )
    print("product: distinct-row / plain product; scoring: (distinct + ranking) / (plain + ranking)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
