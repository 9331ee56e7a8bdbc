"""Production-like, for real: a fresh PostgreSQL database, Redis as the broker, gunicorn and a Celery worker.

Run with DATABASE_URL=postgres://... and REDIS_URL=redis://...; skipped (saying why) without them.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.integration.stack import Stack, run_concurrent_quota, run_submission_flow

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def postgres_url():
    """A uniquely named database on DATABASE_URL's server, dropped afterwards."""
    import psycopg

    server = os.environ["DATABASE_URL"]
    name = f"pentathlon_it_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(server.replace("postgres://", "postgresql://", 1), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _stack(tmp_path, database_url, broker_url=None, **kwargs):
    root = tmp_path / "var"
    root.mkdir()
    stack = Stack(root, database_url=database_url, broker_url=broker_url, **kwargs)
    stack.manage("migrate", "--no-input", "-v", "0")
    stack.manage("seed_pentathlon", "--scale", "tiny")
    return stack


@pytest.mark.redis
def test_full_flow_on_postgres_and_redis(tmp_path, postgres_url):
    stack = _stack(tmp_path, postgres_url, os.environ["REDIS_URL"])
    try:
        stack.start_web()
        stack.start_worker()
        run_submission_flow(stack, tmp_path)
    finally:
        stack.stop()


def test_quota_holds_under_concurrent_uploads_on_postgres(tmp_path, postgres_url):
    """10 parallel uploads, 2 gunicorn processes x 8 threads, a total quota of 3: exactly 3 accepted."""
    stack = _stack(tmp_path, postgres_url, web_workers=2, web_threads=8)
    try:
        stack.start_web()
        run_concurrent_quota(stack, tmp_path, parallel=10)
    finally:
        stack.stop()
