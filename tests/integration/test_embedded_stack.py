"""The embedded default, for real: SQLite file + kombu filesystem broker + gunicorn + a Celery worker."""

from __future__ import annotations

import sqlite3

import pytest

from tests.integration.stack import (
    Stack,
    embedded_var,
    run_concurrent_duplicate,
    run_concurrent_quota,
    run_submission_flow,
    write_submissions,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def embedded_stack(tmp_path):
    stack = Stack(tmp_path / "var", database_url=embedded_var(tmp_path / "var"), web_threads=8)
    try:
        stack.start_web()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


def test_upload_is_scored_by_a_real_worker_and_a_malformed_one_fails(embedded_stack, tmp_path):
    run_submission_flow(embedded_stack, tmp_path)
    run_concurrent_quota(embedded_stack, tmp_path)
    run_concurrent_duplicate(embedded_stack, tmp_path)


def test_a_row_left_running_by_a_dead_worker_is_recovered(embedded_stack, tmp_path):
    """A worker killed mid-evaluation leaves RUNNING: the sweeper re-sends it and the live worker scores it."""
    stack = embedded_stack
    headers = stack.token()
    path = write_submissions(tmp_path, "val", stack.published_truth("val"))["good"]
    submission_id = stack.upload(headers, stack.phase_id("val"), path, method_name="orphan").json()["id"]
    assert stack.wait_final(headers, submission_id)["status"] == "finished"
    with sqlite3.connect(
        stack.root / "db.sqlite3", timeout=30
    ) as db:  # what a worker killed by SIGKILL leaves
        db.execute(
            "UPDATE challenge_submission SET status = 'running', started_at = '2000-01-01 00:00:00', "
            "heartbeat_at = '2000-01-01 00:00:00' "
            "WHERE id = ?",
            (submission_id,),
        )
    assert "Re-sent 1 submission(s)" in stack.manage("requeue_stale_submissions")
    final = stack.wait_final(headers, submission_id)
    assert final["status"] == "finished" and final["results"]["overall_score"] > 0
