"""Load and fault benchmark: N concurrent full-scale submissions, a worker SIGKILL and a Redis restart.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/load_faults.py --n 50

Starts everything itself (a fresh PostgreSQL database, a private redis-server with an append-only
file, gunicorn, two Celery workers, beat) and prints throughput, p50/p95 latency and the recovery
times against their bound. Exit status 1 if a submission was lost, failed or scored twice.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument(
        "--no-faults", action="store_true", help="load only: no worker kill, no Redis restart"
    )
    parser.add_argument("--stale-after", type=int, default=60, help="heartbeat stale bound, seconds")
    parser.add_argument("--heartbeat", type=float, default=10.0)
    parser.add_argument("--requeue-every", type=float, default=15.0)
    parser.add_argument("--queued-after", type=int, default=120)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    from tests.integration.faults import run

    with tempfile.TemporaryDirectory(prefix="pentathlon-faults-") as tmp:
        figures = run(
            Path(tmp),
            database_server=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
            n=args.n,
            kill_worker=not args.no_faults,
            restart_redis=not args.no_faults,
            stale_after=args.stale_after,
            heartbeat_interval=args.heartbeat,
            requeue_every=args.requeue_every,
            queued_after=args.queued_after,
        )
    print("\n".join(figures.lines()))
    ok = (
        set(figures.statuses.values()) == {"finished"}
        and set(figures.scored_counts.values()) == {1}
        and set(figures.results_rows.values()) == {1}
        and all(s is not None and abs(s - figures.expected_score) < 1e-9 for s in figures.scores.values())
    )
    print("OK: every submission finished exactly once with the directly computed score" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
