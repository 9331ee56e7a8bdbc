"""Short fault run (CI): full-scale submissions on PostgreSQL + a private Redis, two workers, beat;
a worker SIGKILLed mid-scoring and Redis killed and restarted. Nothing lost, nothing scored twice.

The full run with figures is `benchmarks/load_faults.py`. No wall-clock assertions here: the
figures are printed (run with -s to see them).
"""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to run a private Redis")
def test_worker_kill_and_redis_restart_lose_nothing_and_score_nothing_twice(tmp_path):
    from tests.integration.faults import run

    figures = run(
        tmp_path,
        database_server=os.environ["DATABASE_URL"],
        n=6,
        kill_worker=True,
        restart_redis=True,
        stale_after=12,
        heartbeat_interval=2.0,
        requeue_every=3.0,
        queued_after=30,
    )
    print("\n" + "\n".join(figures.lines()))
    assert set(figures.statuses.values()) == {"finished"}
    assert set(figures.scored_counts.values()) == {1}  # exactly once, even for re-queued rows
    assert set(figures.results_rows.values()) == {1}
    assert any(
        attempts > 1 for attempts in figures.attempts.values()
    )  # the killed worker's row was re-claimed
    assert all(score == pytest.approx(figures.expected_score, abs=1e-9) for score in figures.scores.values())
