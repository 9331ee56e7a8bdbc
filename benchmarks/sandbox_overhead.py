"""The code phases' sandbox overhead: start to the program's first line, and its end to the result.

For three /input sizes (queries x videos per dataset, five datasets) it runs a program that reads
its input, prints a first line and writes embeddings, through the configured backend (bubblewrap
by default), and prints the program's own run time beside the sandbox's overhead. Needs bubblewrap
(or --backend docker with --image). Usage:

    python benchmarks/sandbox_overhead.py [--backend bubblewrap] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import Job, Limits, Runtime, backend_get, runtime_get  # noqa: E402

PROGRAM = """
import os, sys, time
t0 = time.monotonic()
print("first line", flush=True)
import numpy as np
arrays = {}
for name in sorted(os.listdir("/input")):
    folder = os.path.join("/input", name)
    rows = open(os.path.join(folder, "queries.tsv")).read().splitlines()[1:]
    videos = open(os.path.join(folder, "videos.txt")).read().split()
    rng = np.random.default_rng(0)
    arrays[name + "_text"] = rng.standard_normal((len(rows), 256), dtype=np.float32)
    arrays[name + "_video"] = rng.standard_normal((len(videos), 256), dtype=np.float32)
np.savez("/output/submission.npz", **arrays)
"""
SIZES = {"small": (100, 100), "medium": (3000, 1000), "large": (60000, 20000)}
DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")


def build(root: Path, queries: int, videos: int) -> None:
    for name in DATASETS:
        folder = root / "input" / name
        folder.mkdir(parents=True)
        folder.joinpath("queries.tsv").write_text(
            "query_id\ttext\n"
            + "".join(f"q{i:020x}\ta person is doing thing number {i}\n" for i in range(queries))
        )
        folder.joinpath("videos.txt").write_text("".join(f"video{j}\n" for j in range(videos)))
    (root / "program").mkdir()
    (root / "program" / "main.py").write_text(PROGRAM)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="bubblewrap")
    parser.add_argument("--image", default="", help="docker: the runtime image (with numpy at --python)")
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    backend = backend_get(args.backend)
    runtime = (
        Runtime(name="bench", description="", python=args.python, image=args.image)
        if args.image
        else runtime_get("python3-torch")
    )
    print(f"backend {args.backend}; median of {args.repeats} runs; times in ms")
    print(
        "setup: spawn to the supervisor starting the program; start->1st line: spawn to the program's first"
    )
    print(
        "line (includes the interpreter's start); end->result: program's end to its output unpacked on the host"
    )
    print(
        f"{'input':<8}{'queries x videos':>20}{'input MB':>10}{'setup':>8}{'start->1st line':>17}{'program':>10}"
        f"{'output MB':>11}{'end->result':>13}"
    )
    for label, (queries, videos) in SIZES.items():
        setups, starts, programs, ends, outputs = [], [], [], [], []
        with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
            root = Path(tmp)
            build(root, queries, videos)
            size = sum(p.stat().st_size for p in (root / "input").rglob("*") if p.is_file()) / 1e6
            for i in range(args.repeats):
                out = root / f"out{i}"
                out.mkdir()
                job = Job(
                    root / "program",
                    root / "input",
                    out,
                    runtime=runtime,
                    limits=Limits(wall_s=300, memory_bytes=8 * 1024**3, output_bytes=2 * 1024**3),
                )
                result = backend.run(job)
                if not result.ok or result.first_output_at is None:
                    print(f"run failed: {result.message}\n{result.stderr[-2000:]}")
                    return 1
                setups.append((result.program_started_at - result.spawned_at) * 1000)
                outputs.append(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6)
                starts.append((result.first_output_at - result.spawned_at) * 1000)
                programs.append((result.program_ended_at - result.program_started_at) * 1000)
                ends.append((result.finished_at - result.program_ended_at) * 1000)
        med = statistics.median
        print(
            f"{label:<8}{f'{queries:,} x {videos:,}':>20}{size:>10.1f}{med(setups):>8.0f}{med(starts):>17.0f}"
            f"{med(programs):>10.0f}{med(outputs):>11.1f}{med(ends):>13.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
