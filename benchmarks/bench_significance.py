"""What intervals cost the site: the worker's extra step, and the board's paired tests (cold and cached).

    .venv/bin/python benchmarks/bench_significance.py [--entries 2,5,10] [--scales 0.1,0.5,1] [--repeats 3]

For a full test-phase submission (five datasets, the 2020 shapes scaled by --scales; ranks
simulated as in bench_intervals.py), prints:

* `worker`: what `leaderboard.services.evaluate` adds after scoring: `pack_ranks` plus
  `result_intervals_compute` (every metric, t2v and v2t, every dataset, the overall score), and
  the packed size kept in the database;
* `board cold`: `leaderboard.significance.board_significance` on a board of --entries ranked
  entries with an empty cache (reading each entry's ranks from the database, unpacking them, the
  paired bootstrap of every neighbour and of the first place);
* `board cached`: the same call again (one query for the ranks' timestamps, one cache read).

The site is a throw-away SQLite file (benchmarks/_site.py), 1000 resamples. Time is the best of
--repeats (wall and CPU); figures only, nothing asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _site import configure  # noqa: E402
from bench_intervals import _phase, _submission  # noqa: E402

DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")


def _best(fn, repeats: int) -> tuple[float, float]:
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", default="2,5,10")
    parser.add_argument("--scales", default="0.1,0.5,1")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    configure()

    from django.core.cache import cache

    from challenge.models import Challenge, Dataset, Phase, Submission, Team
    from evaluation.uncertainty import pack_ranks
    from leaderboard.selectors import leaderboard_rows
    from leaderboard.services.intervals import (
        result_intervals_compute,
        result_intervals_set,
        result_ranks_set,
    )
    from leaderboard.significance import board_significance
    from tests.factories import ResultFactory

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.1f}, best of {args.repeats}, 1000 resamples")
    print(f"{'case':<26} {'queries':>8} {'wall s':>8} {'cpu s':>8} {'stored KiB':>10}")
    for scale in [float(s) for s in args.scales.split(",")]:
        groups = _phase(scale)
        queries = sum(g.size for g in groups.values())
        challenge = Challenge.objects.create(slug=f"bench-{scale:g}".replace(".", "-"), title="bench")
        for order, name in enumerate(DATASETS):
            Dataset.objects.create(challenge=challenge, name=name, order=order)
        phase = Phase.objects.create(
            challenge=challenge, slug="test", title="Test", starts_at="2020-01-01T00:00Z"
        )
        phase = Phase.objects.select_related("challenge").get(id=phase.id)

        first = _submission(groups, 0, 4.0)
        blob_holder: list[bytes] = []

        def worker(first=first, phase=phase, holder=blob_holder):
            holder[:] = [pack_ranks(first)]
            result_intervals_compute(phase=phase, ranks=first)

        wall, cpu = _best(worker, args.repeats)
        print(
            f"{f'{scale:g}x worker':<26} {queries:>8,} {wall:>8.4f} {cpu:>8.4f} {len(blob_holder[0]) / 1024:>10.0f}"
        )

        largest = max(int(n) for n in args.entries.split(","))
        for index in range(largest):
            team = Team.objects.create(challenge=challenge, name=f"team {index}")
            submission = Submission.objects.create(
                team=team,
                phase=phase,
                method_name=f"m{index}",
                status=Submission.Status.FINISHED,
                is_public=True,
                file_format="npz",
                file_size=0,
            )
            ranks = _submission(groups, index, 4.0)
            result = ResultFactory(submission=submission, primary_score=100.0 - index, metrics={})
            result_ranks_set(result=result, blob=pack_ranks(ranks))
            result_intervals_set(result=result, intervals=None)
        rows = leaderboard_rows(phase=phase)
        for size in [int(n) for n in args.entries.split(",")]:
            board = rows[:size]

            def cold(board=board, phase=phase):
                cache.clear()
                board_significance(phase=phase, dataset=None, rows=board)

            wall, cpu = _best(cold, args.repeats)
            print(f"{f'{scale:g}x board of {size} cold':<26} {queries:>8,} {wall:>8.4f} {cpu:>8.4f}")
            board_significance(phase=phase, dataset=None, rows=board)
            wall, cpu = _best(
                lambda board=board, phase=phase: board_significance(phase=phase, dataset=None, rows=board),
                args.repeats,
            )
            print(f"{f'{scale:g}x board of {size} cached':<26} {queries:>8,} {wall:>8.4f} {cpu:>8.4f}")


if __name__ == "__main__":
    main()
