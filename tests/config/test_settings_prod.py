"""config/settings/prod.py, loaded in a subprocess with the environment a deployment gives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _prod_database(**extra: str) -> dict:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PENTATHLON_", "DATABASE_URL"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.prod",
            "DJANGO_SECRET_KEY": "test-only-" + "x" * 50,
            "DJANGO_ALLOWED_HOSTS": "example.org",
            "DATABASE_URL": "postgres://pentathlon:secret@postgres:5432/pentathlon",
            "PYTHONPATH": str(REPO),
            **extra,
        }
    )
    code = "import json; from django.conf import settings as s; print(json.dumps(s.DATABASES['default']))"
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_kept_database_connections_are_checked_before_reuse() -> None:
    """After a PostgreSQL restart a kept connection is dead; without the check its next request is a 500."""
    database = _prod_database()
    assert database["CONN_MAX_AGE"] == 60
    assert database["CONN_HEALTH_CHECKS"] is True
    assert database["HOST"] == "postgres" and database["ATOMIC_REQUESTS"] is True


@pytest.mark.slow
def test_connection_age_still_comes_from_the_environment() -> None:
    assert _prod_database(DJANGO_CONN_MAX_AGE="0")["CONN_MAX_AGE"] == 0
