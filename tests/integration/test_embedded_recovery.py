"""Recovery on the embedded default with real processes (SECURITY.md, findings 13 and 14).

SQLite file + filesystem broker + gunicorn + one worker started as `bin/demo` starts it (its pool and
`-B` are read from the script): the prefork pool with one child and the embedded beat (the periodic
sweeper), no separate beat process. Without `-B` in bin/demo the whole-worker kill is never recovered.
`tests.integration.slow_scoring` holds each scoring for a few seconds so the kill lands mid-scoring.

Stated bound: with a lease of STALE_AFTER s, a sweep every REQUEUE_EVERY s and the broker polled every
second, a submission whose worker was killed is claimed again within RECLAIM_BOUND_S =
STALE_AFTER + 2 * REQUEUE_EVERY + 1 s of the kill (plus, for the whole worker, its restart), and then
finishes after one full run (the DELAY plus the scoring itself). The waits below are bounded by a
generous multiple of that, for a loaded 2-core machine; the measured figures are printed (run with -s).
"""

from __future__ import annotations

import hashlib
import re
import shlex
import sqlite3
import time
from pathlib import Path

import pytest
import requests

from tests.integration.stack import REPO, Stack, embedded_var, write_submissions

pytestmark = pytest.mark.slow

STALE_AFTER, HEARTBEAT, REQUEUE_EVERY, DELAY = 6, 1.0, 2.0, 3.0
RECLAIM_BOUND_S = STALE_AFTER + 2 * REQUEUE_EVERY + 1
BOUND_S = RECLAIM_BOUND_S + DELAY
#: The stated bound, times a margin for start-up and a loaded machine: a wait, not a speed assertion.
WAIT_S = 4 * BOUND_S + 120


def _stack(tmp_path: Path, **extra: str) -> Stack:
    var = tmp_path / "var"
    stack = Stack(
        var,
        database_url=embedded_var(var),
        extra_env={
            "PENTATHLON_HEARTBEAT_STALE_AFTER": str(STALE_AFTER),
            "PENTATHLON_HEARTBEAT_INTERVAL": str(HEARTBEAT),
            "PENTATHLON_REQUEUE_EVERY": str(REQUEUE_EVERY),
            "PENTATHLON_TEST_SCORING_DELAY_S": str(DELAY),
            "PENTATHLON_MAX_LOST_ATTEMPTS": "3",
            "PENTATHLON_TEST_FAULT_INJECTION": "1",
            **extra,
        },
    )
    return stack


def demo_worker_options() -> dict:
    """How bin/demo starts its worker: the pool (prefork unless -P says otherwise) and whether it embeds
    beat (-B). Read from the script, so these tests follow what the demo really runs (its queue names
    are the stack's own)."""
    script = (REPO / "bin" / "demo").read_text()
    line = re.search(r"celery -A config worker(.*?)&\n", script, re.S)
    args = shlex.split(line.group(1).replace("\\\n", " ")) if line else []
    pool = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-P", "--pool")), "prefork")
    return {"pool": pool, "embedded_beat": "-B" in args or "--beat" in args}


def _worker(stack: Stack):
    return stack.start_worker(include="tests.integration.slow_scoring", **demo_worker_options())


def _row(stack: Stack, submission_id: int) -> dict:
    with sqlite3.connect(stack.root / "db.sqlite3", timeout=30) as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "SELECT status, attempts, lost_attempts, scored_count, quota_refunded, error_message, "
            "strftime('%s', started_at) + 0.0 AS started, strftime('%s', finished_at) + 0.0 AS finished, "
            "(SELECT count(*) FROM leaderboard_result r WHERE r.submission_id = s.id) AS results "
            "FROM challenge_submission s WHERE id = ?",
            (submission_id,),
        ).fetchone()
    return dict(row)


def _wait(stack: Stack, predicate, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}:\n{stack.logs()}")
        time.sleep(0.2)


def _scoring_pid(stack: Stack, after: float) -> int | None:
    marker = stack.root / "scoring.pid"
    if marker.exists() and marker.stat().st_mtime >= after:
        return int(marker.read_text())
    return None


def _upload_good(stack: Stack, tmp_path: Path, headers: dict) -> int:
    path = write_submissions(tmp_path, "val", stack.published_truth("val"))["good"]
    response = stack.upload(headers, stack.phase_id("val"), path, method_name="victim")
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize("fault", ["pool process", "whole worker"])
def test_a_worker_killed_during_scoring_finishes_the_submission_exactly_once(tmp_path, fault):
    stack = _stack(tmp_path)
    try:
        stack.start_web()
        worker = _worker(stack)
        headers = stack.token()
        started = time.time()
        submission_id = _upload_good(stack, tmp_path, headers)
        pid = _wait(stack, lambda: _scoring_pid(stack, started), "the scoring to start")
        assert _row(stack, submission_id)["status"] == "running"
        killed_at, killed_epoch = time.monotonic(), time.time()
        restart_s = 0.0
        if fault == "pool process":
            import os

            os.kill(pid, 9)  # the worker lives on and forks a new pool child
        else:
            stack.kill_group(worker)  # the filesystem broker had handed the message over: it is gone
            worker = _worker(stack)
            restart_s = time.monotonic() - killed_at
        final = _wait(
            stack,
            lambda: (row := _row(stack, submission_id))["status"] in ("finished", "failed") and row,
            "the submission to finish",
        )
        recovered_s = time.monotonic() - killed_at
        print(
            f"\nSIGKILL of the {fault}: claimed again {final['started'] - killed_epoch:.1f} s after the kill"
            f" (bound {RECLAIM_BOUND_S:.0f} s + worker restart {restart_s:.1f} s; SQLite keeps whole seconds),"
            f" the re-run took {final['finished'] - final['started']:.1f} s, finished {recovered_s:.1f} s after"
            f" the kill; attempts {final['attempts']}, lost {final['lost_attempts']}"
        )
        assert final["status"] == "finished", final
        assert final["scored_count"] == 1 and final["results"] == 1  # exactly once
        assert final["attempts"] == 2 and final["lost_attempts"] == 1
        data = requests.get(
            f"{stack.base_url}/api/v1/submissions/{submission_id}/", headers=headers, timeout=30
        )
        assert data.json()["results"]["overall_score"] > 0
    finally:
        stack.stop()


def test_a_file_that_kills_the_worker_three_times_ends_failed_and_refunded(tmp_path):
    truth_dir = tmp_path / "files"
    truth_dir.mkdir()
    # A shorter lease: each scoring dies at once, so no live lease can be taken for a lost one.
    stack = _stack(tmp_path, PENTATHLON_HEARTBEAT_STALE_AFTER="3")
    path = write_submissions(truth_dir, "val", stack.published_truth("val"))["good"]
    stack.env["PENTATHLON_TEST_KILLER_SHA256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        stack.start_web()
        _worker(stack)
        headers = stack.token()
        response = stack.upload(headers, stack.phase_id("val"), path, method_name="killer")
        assert response.status_code == 201, response.text
        submission_id = response.json()["id"]
        final = _wait(
            stack,
            lambda: (row := _row(stack, submission_id))["status"] in ("finished", "failed") and row,
            "the submission to end",
            timeout=3 * WAIT_S,
        )
        deaths = (stack.root / "killer-deaths.log").read_text().split()
        print(f"\nkiller file: {len(deaths)} worker deaths; {final}")
        assert final["status"] == "failed", final
        assert len(deaths) == 3 and final["lost_attempts"] == 3
        assert "stopped the worker 3 times" in final["error_message"]
        assert final["quota_refunded"] == 1 and final["results"] == 0
        mine = requests.get(
            f"{stack.base_url}/api/v1/submissions/{submission_id}/", headers=headers, timeout=30
        )
        assert mine.json()["status"] == "failed"
    finally:
        stack.stop()
