"""The embedded default, for real: SQLite file + kombu filesystem broker + gunicorn + a Celery worker."""

from __future__ import annotations

import pytest

from tests.integration.stack import Stack, run_concurrent_quota, run_submission_flow

pytestmark = pytest.mark.slow


@pytest.fixture
def embedded_stack(tmp_path):
    stack = Stack(tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'var' / 'db.sqlite3'}", web_threads=8)
    (tmp_path / "var").mkdir()
    try:
        stack.manage("migrate", "--no-input", "-v", "0")
        stack.manage("seed_pentathlon", "--scale", "tiny")
        stack.start_web()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


def test_upload_is_scored_by_a_real_worker_and_a_malformed_one_fails(embedded_stack, tmp_path):
    run_submission_flow(embedded_stack, tmp_path)
    run_concurrent_quota(embedded_stack, tmp_path)
