"""Abuse limits and recovery on PostgreSQL, against gunicorn with the production settings
(SECURITY.md, findings 9 and 11).

* `?limit=9223372036854775808` and other hostile numbers: 400 with the allowed range, not a 500;
* the database drops every connection (`pg_terminate_backend`, what a restart does): the next
  requests of each web thread are answered normally (CONN_HEALTH_CHECKS), not one 500 per thread.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from tests.integration.stack import Stack

WEB_THREADS = 4


@pytest.fixture(scope="module")
def database():
    import psycopg

    server = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    name = f"pentathlon_abuse_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(server, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(os.environ["DATABASE_URL"])
    try:
        yield name, admin, urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, database):
    _, _, url = database
    root = tmp_path_factory.mktemp("abuse") / "var"
    root.mkdir()
    stack = Stack(
        root,
        database_url=url,
        web_workers=1,
        web_threads=WEB_THREADS,
        extra_env={
            "DJANGO_SETTINGS_MODULE": "config.settings.prod",
            "DJANGO_SECRET_KEY": "abuse-test-" + "k" * 50,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_CONN_MAX_AGE": "600",
        },
    )
    try:
        stack.manage("migrate", "--no-input", "-v", "0")
        stack.manage("seed_pentathlon", "--scale", "tiny")
        stack.start_web()
        yield stack
    finally:
        stack.stop()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("value", ["9223372036854775808", "-1", "abc", "1e3"])
@pytest.mark.parametrize("name", ["limit", "offset"])
def test_hostile_numbers_are_a_400_on_postgresql(stack, name, value):
    url = f"{stack.base_url}/api/v1/phases/{stack.phase_id('val')}/leaderboard/"
    response = requests.get(url, params={name: value}, timeout=30)
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert "must be a whole number from" in response.json()["detail"]
    assert requests.get(url, params={name: "5"}, timeout=30).status_code == 200


@pytest.mark.slow
@pytest.mark.postgres
def test_dropped_database_connections_cost_no_500(stack, database):
    name, admin, _ = database
    url = f"{stack.base_url}/api/v1/challenges/"

    def burst() -> list[int]:
        # Enough parallel requests to reach every thread of the web process and its kept connection.
        with requests.Session() as session:
            with ThreadPoolExecutor(WEB_THREADS) as pool:
                return list(
                    pool.map(lambda _: session.get(url, timeout=30).status_code, range(4 * WEB_THREADS))
                )

    assert set(burst()) == {200}
    for _ in range(2):
        dropped = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s"
            " AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()[0]
        assert dropped >= 1  # the web threads' kept connections
        codes = burst()
        assert codes == [200] * len(codes), codes
