"""Benchmark of the rank kernel on the MSRVTT test shape (59,800 x 2,990 float32, K = 20).

Prints, measured in one run: t2v+v2t time (one fused pass, as the scorer runs it, with the
compiled kernel and with the numpy fallback, and the two public functions called one after the
other), `numpy.sort` of the same matrix, their ratios, and
the peak extra memory as a fraction of the matrix size. Figures only; nothing here asserts a time.

    python -m evaluation.bench [--videos 2990] [--captions 20] [--masked 6] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from .metrics import retrieval_ranks, t2v_metrics, v2t_metrics


def _measure(fn: Callable[[], Any]) -> tuple[float, int]:
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2990)
    parser.add_argument("--captions", type=int, default=20)
    parser.add_argument("--masked", type=int, default=6)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    videos, captions = args.videos, args.captions
    sims = rng.standard_normal((videos * captions, videos), dtype=np.float32)
    masks = np.ones((videos, captions), dtype=bool)
    masks[rng.choice(videos, size=args.masked, replace=False), captions - 1] = False
    query_video = np.repeat(np.arange(videos), captions)
    matrix_bytes = sims.nbytes
    print(
        f"matrix {sims.shape[0]:,} x {sims.shape[1]:,} float32 = {matrix_bytes / 2**20:,.0f} MiB,"
        f" {int((~masks).sum())} masked rows, device {args.device}"
    )

    target: Any = sims
    if args.device == "cuda":
        import torch

        target = torch.from_numpy(sims).cuda()
        masks_t = torch.from_numpy(masks).cuda()
        torch.cuda.synchronize()

    def fused() -> None:
        retrieval_ranks(target, query_video, valid_rows=masks.reshape(-1))
        if args.device == "cuda":
            torch.cuda.synchronize()

    def fused_numpy() -> None:
        retrieval_ranks(sims, query_video, valid_rows=masks.reshape(-1), backend="numpy")

    def public() -> None:
        t2v_metrics(target, masks if args.device == "cpu" else masks_t)
        v2t_metrics(target, masks if args.device == "cpu" else masks_t)

    fused()  # warm-up (thread pool, CUDA context)
    fused_runs = [_measure(fused) for _ in range(args.repeats)]
    public_runs = [_measure(public) for _ in range(args.repeats)]
    numpy_runs = [_measure(fused_numpy) for _ in range(args.repeats)] if args.device == "cpu" else []
    sort_runs = [_measure(lambda: np.sort(sims, axis=1)) for _ in range(args.repeats)]
    fused_time = min(t for t, _ in fused_runs)
    public_time = min(t for t, _ in public_runs)
    sort_time = min(t for t, _ in sort_runs)
    fused_peak = max(p for _, p in fused_runs)
    public_peak = max(p for _, p in public_runs)
    print(
        f"t2v+v2t, one fused pass        {fused_time:8.3f} s   peak extra memory {fused_peak / 2**20:8.1f} MiB"
        f" = {fused_peak / matrix_bytes:.3f} x matrix"
    )
    if numpy_runs:
        numpy_time, numpy_peak = min(t for t, _ in numpy_runs), max(p for _, p in numpy_runs)
        print(
            f"  same, numpy fallback kernel  {numpy_time:8.3f} s   peak extra memory {numpy_peak / 2**20:8.1f} MiB"
            f" = {numpy_peak / matrix_bytes:.3f} x matrix   ratio to sort {numpy_time / sort_time:.3f}"
        )
    print(
        f"t2v_metrics then v2t_metrics   {public_time:8.3f} s   peak extra memory {public_peak / 2**20:8.1f} MiB"
        f" = {public_peak / matrix_bytes:.3f} x matrix"
    )
    print(f"numpy.sort(axis=1)             {sort_time:8.3f} s")
    print(f"ratio fused / sort             {fused_time / sort_time:8.3f}   (target <= 0.2)")
    print(f"ratio public / sort            {public_time / sort_time:8.3f}")
    print("best of", args.repeats, "runs each; memory from tracemalloc (numpy allocations included)")


if __name__ == "__main__":
    main()
