"""The demo never serves Django's debug page (SECURITY.md, finding 9): bin/demo runs with
config.settings.demo, whose DEBUG is off whatever the environment says, and still serves its pages
and static files without collectstatic."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import django
from django.conf import settings
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
client = Client(raise_request_exception=False)
missing = client.get("/no-such-page/")
api = client.get("/api/v1/phases/1/leaderboard/", {"limit": "9223372036854775808"})
print(settings.DEBUG, missing.status_code, "DEBUG = True" in missing.content.decode(), api.status_code,
      client.get("/").status_code, client.get("/static/css/site.css").status_code)
"""


def test_bin_demo_runs_the_demo_settings():
    script = (REPO / "bin" / "demo").read_text()
    assert re.search(r'DJANGO_SETTINGS_MODULE="\$\{DJANGO_SETTINGS_MODULE:-config\.settings\.demo\}"', script)


@pytest.mark.slow
def test_demo_settings_serve_no_debug_page(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "PENTATHLON_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.demo",
            "DJANGO_DEBUG": "true",  # a developer's shell may say so: the demo still hides its internals
            "PENTATHLON_VAR_DIR": str(tmp_path),
            "PYTHONPATH": str(REPO),
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "404", "False", "400", "200", "200"]


def test_bin_demo_runs_the_periodic_sweeper_in_its_worker():
    """SECURITY.md, finding 13: without beat a row a dead worker left running stays running forever."""
    from django.conf import settings

    script = (REPO / "bin" / "demo").read_text()
    worker = re.search(r"celery -A config worker(.*?)&\n", script, re.S)
    assert worker is not None and re.search(r"(^|\s)-B(\s|$)", worker.group(1)), worker
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"workers.submission_requeue_stale", "workers.chunked_upload_expire"} <= tasks
