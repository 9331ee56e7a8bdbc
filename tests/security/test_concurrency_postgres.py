"""Concurrency and fault tolerance with real processes on PostgreSQL + Redis.

One stack for the module (tests/integration/stack.py): a fresh PostgreSQL database, Redis as the
broker, gunicorn with 2 processes x 10 threads, Celery workers started as each test needs them.

* quota race: 20 parallel uploads against a total quota of 3 -> exactly 3 accepted;
* duplicate race: the same file sent 10 times at once -> accepted once, 9 x 409 naming it;
* double enqueue: one submission, three messages (the upload's and two sent concurrently), two
  workers -> claimed and scored exactly once (attempts == 1, one result);
* re-score during scoring: the latest scorer run wins (see challenge.services.phase_rescore);
* faults: a real worker handles every bad file of the corpus (each FAILED with its own message,
  never the internal-error fallback), then scores a good upload: the worker survived them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from tests.integration.stack import (
    PYTHON,
    REPO,
    Stack,
    run_concurrent_duplicate,
    run_concurrent_quota,
    write_submissions,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
FIGURES: dict[str, int] = {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    import psycopg

    server = os.environ["DATABASE_URL"]
    name = f"pentathlon_sec_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(server.replace("postgres://", "postgresql://", 1), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server)
    root = tmp_path_factory.mktemp("secstack") / "var"
    root.mkdir()
    stack = Stack(
        root,
        database_url=urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, "")),
        broker_url=os.environ["REDIS_URL"],
        web_workers=2,
        web_threads=10,
    )
    try:
        stack.manage("migrate", "--no-input", "-v", "0")
        stack.manage("seed_pentathlon", "--scale", "tiny")
        stack.start_web()
        yield stack
    finally:
        stack.stop()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def scenario(stack: Stack, *args: str, timeout: int = 300) -> dict:
    done = subprocess.run(
        [PYTHON, "-m", "tests.security.stack_scenarios", *args],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{stack.logs()}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def _workers(stack: Stack) -> list:
    return [proc for name, proc, _ in stack.procs if name.startswith("worker")]


def _wait_for_worker_log(stack: Stack, *parts: str, count: int, timeout_s: float = 120) -> None:
    """Poll the workers' logs until `count` lines hold every one of `parts` (bounded by `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [
            line
            for name, _, log in stack.procs
            if name.startswith("worker")
            for line in log.read_text(errors="replace").splitlines()
            if all(part in line for part in parts)
        ]
        if len(lines) >= count:
            return
        assert time.monotonic() < deadline, f"{len(lines)} of {count} lines with {parts}:\n{stack.logs()}"
        time.sleep(0.2)


def test_quota_race_20_parallel_uploads_quota_3(stack, tmp_path):
    run_concurrent_quota(stack, tmp_path, parallel=20)
    FIGURES["quota uploads"] = 20


def test_the_same_file_sent_10_times_at_once_is_accepted_once(stack, tmp_path):
    run_concurrent_duplicate(stack, tmp_path, parallel=10)


def test_double_enqueue_is_scored_once(stack, tmp_path):
    assert not _workers(stack)  # the messages wait in Redis until both workers start together
    headers = stack.token()
    path = write_submissions(tmp_path, "val")["good"]
    response = stack.upload(headers, stack.phase_id("val"), path, method_name="double enqueue")
    assert response.status_code == 201, response.text
    submission_id = response.json()["id"]
    assert scenario(stack, "send-twice", str(submission_id)) == {"sent": 2}
    stack.start_worker("worker-a")
    stack.start_worker("worker-b")
    final = stack.wait_final(headers, submission_id)
    assert final["status"] == "finished"
    # Both duplicates have been consumed, each a no-op (the evaluation service logs the skip).
    _wait_for_worker_log(stack, f"submission {submission_id}: not claimable, skipping", count=2)
    result = scenario(stack, "state", str(submission_id))
    assert result["attempts"] == 1 and result["results"] == 1, result
    FIGURES["duplicate messages"] = 2


def test_rescore_during_scoring_latest_run_wins(stack, tmp_path):
    headers = stack.token()
    path = write_submissions(tmp_path, "val")["good"]
    submission_id = stack.upload(headers, stack.phase_id("val"), path, method_name="rescored").json()["id"]
    first = stack.wait_final(headers, submission_id)
    assert first["status"] == "finished"
    outcome = scenario(stack, "rescore-during-scoring", str(submission_id))
    after = outcome["after"]
    assert outcome["queued"] >= 1
    assert after["status"] == "finished" and after["results"] == 1, outcome
    assert after["score"] == first["results"]["overall_score"] and after["scorer_version"] != "stale", outcome
    assert after["attempts"] == outcome["before"]["attempts"] + 2, outcome


def test_a_real_worker_survives_the_bad_input_corpus(stack, tmp_path):
    from leaderboard.services import INTERNAL_ERROR
    from tests.security.corpus import SUBMISSION_CASES

    if not _workers(stack):
        stack.start_worker("worker-a")
    ids = scenario(stack, "enqueue-corpus", str(tmp_path / "corpus"))["ids"]
    headers = stack.token()
    failed = {}
    for name, submission_id in ids.items():
        final = stack.wait_final(headers, submission_id)
        assert final["status"] == "failed", (name, final)
        assert final["error_message"] and INTERNAL_ERROR not in final["error_message"], (name, final)
        failed[name] = final["error_message"]
    for proc in _workers(stack):
        assert proc.poll() is None, stack.logs()
    good = stack.upload(
        headers,
        stack.phase_id("val"),
        write_submissions(tmp_path, "val")["good"],
        method_name="after the storm",
    )
    assert good.status_code == 201
    assert stack.wait_final(headers, good.json()["id"])["status"] == "finished"
    FIGURES["faults survived"] = len(failed)
    assert len(failed) == len(SUBMISSION_CASES)
    board = requests.get(f"{stack.base_url}/api/v1/phases/{stack.phase_id('val')}/leaderboard/", timeout=30)
    assert board.status_code == 200
    print(
        f"\n[faults] a real worker failed {len(failed)} bad submissions cleanly, then scored a good one;"
        f" quota race: 20 parallel uploads -> 3 accepted; double enqueue scored once"
    )
