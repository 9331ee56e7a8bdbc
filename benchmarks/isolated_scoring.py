"""What scoring in an isolated child costs (evaluation.sandbox, docs/deploying.md "The scoring child").

    .venv/bin/python benchmarks/isolated_scoring.py [--runs 2] [--sizes small,medium,full]

For three similarity .npz files of one dataset (float32; "full" is the MSRVTT test shape, 59,800 x
2,990, 715 MB), prints the time to score in this process (`score_submission`, warmed up, as the worker
used to), in a bubblewrap child and in the scrubbed-environment child (as uid 65534 when run as root),
the difference, the sha256 pass alone and the first-run cost of a child (its start, imports and
kernel load), and checks that every report is the one scored in-process. The file is read from the
page cache in every case (each is scored once before timing).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation import synthetic  # noqa: E402
from evaluation.ground_truth import GroundTruth  # noqa: E402
from evaluation.sandbox import Isolation, _hash_file, bwrap_works, score_in_child  # noqa: E402
from evaluation.scoring import score_submission, warm_up  # noqa: E402
from evaluation.synthetic import SplitSize  # noqa: E402

#: (label, videos, captions per video): Q = videos x captions.
SIZES = {"small": (200, 5), "medium": (1000, 10), "full": (2990, 20)}


def _truth(videos: int, captions: int) -> GroundTruth:
    size = SplitSize(videos=videos, queries=videos * captions, captions_per_video=captions)
    dataset = synthetic.synthetic_dataset_truth("MSRVTT", size, phase="test")
    return GroundTruth("bench", "test", {"MSRVTT": dataset})


def _timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        began = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), out


def _measure(label: str, folder: Path, isolations: list, runs: int) -> str:
    videos, captions = SIZES[label]
    truth = _truth(videos, captions)
    path = folder / f"{label}.npz"
    synthetic.write_npz_submission(path, synthetic.similarity_matrices(truth))
    os.chmod(path, 0o644)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    in_process = partial(score_submission, ground_truth=truth, submission_path=path)
    in_process()  # page cache, kernel
    here_s, here = _timed(in_process, runs)
    cells = []
    for isolation in isolations:
        child = partial(
            score_in_child, ground_truth=truth, submission_path=path, sha256=digest, isolation=isolation
        )
        there_s, there = _timed(child, runs)
        assert there == here, f"{isolation.kind}: the child's report differs"
        cells.append(f"{there_s:>10.2f}s {there_s - here_s:>+5.2f}s")
    hash_s, _ = _timed(partial(_hash_file, str(path)), runs)
    d = truth.datasets["MSRVTT"]
    shape = f"{d.num_queries:,} x {d.num_videos:,}"
    return (
        f"{label:>7} {shape:>15} {path.stat().st_size / 1e6:>6.0f} {here_s:>9.2f}s "
        + " ".join(cells)
        + f" {hash_s:>6.2f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--sizes", default="small,medium,full")
    args = parser.parse_args()
    warm_up("cpu")
    isolations = ([Isolation("bwrap")] if bwrap_works() else []) + [
        Isolation("env", uid=65534, gid=65534) if os.geteuid() == 0 else Isolation("env")
    ]
    print(
        f"{'size':>7} {'Q x V':>15} {'MB':>6} {'in-process':>10} "
        + " ".join(f"{i.kind + ' child':>11} {'extra':>6}" for i in isolations)
        + f" {'sha256':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-isolated-") as folder:
        os.chmod(folder, 0o755)
        for label in args.sizes.split(","):
            print(_measure(label, Path(folder), isolations, args.runs))
    print("same report in-process and in every child: yes")


if __name__ == "__main__":
    main()
