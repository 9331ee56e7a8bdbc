#!/usr/bin/env python
"""Container health checks for the Pentathlon images. Exit status 0 means healthy.

    healthcheck.py web            GET a public API page through gunicorn (also proves the database answers)
    healthcheck.py worker PREFIX  the local Celery worker PREFIX@<hostname> answers a ping over the broker
    healthcheck.py beat           celery beat's process is alive and the broker accepts a connection

The site has no dedicated health URL yet, so the web check uses the public challenge list.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request

WEB_PATH = os.environ.get("PENTATHLON_HEALTHCHECK_PATH", "/api/v1/challenges/")
BEAT_PIDFILE = "/tmp/celerybeat.pid"


def _host_header() -> str:
    """A host Django accepts: the first DJANGO_ALLOWED_HOSTS entry (a leading dot or * stripped)."""
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0].lstrip(".") if hosts else "localhost"
    return "localhost" if host in ("", "*") else host


def check_web() -> int:
    port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rsplit(":", 1)[-1]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{WEB_PATH}", headers={"Host": _host_header(), "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.urlopen(request, timeout=8) as response:  # noqa: S310 (fixed local URL)
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"web: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def check_worker(prefix: str) -> int:
    from config.celery import app

    node = f"{prefix}@{socket.gethostname()}"
    replies = app.control.ping(destination=[node], timeout=10)
    if any(node in reply for reply in replies):
        return 0
    print(f"worker: no ping reply from {node}", file=sys.stderr)
    return 1


def check_beat() -> int:
    try:
        with open(BEAT_PIDFILE) as handle:
            os.kill(int(handle.read().strip()), 0)
    except (OSError, ValueError) as exc:
        print(f"beat: process not running ({exc})", file=sys.stderr)
        return 1
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=10)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["web"]:
        return check_web()
    if argv[:1] == ["worker"] and len(argv) == 2:
        return check_worker(argv[1])
    if argv[:1] == ["beat"]:
        try:
            return check_beat()
        except Exception as exc:  # noqa: BLE001 (any broker error means unhealthy)
            print(f"beat: broker unreachable ({exc})", file=sys.stderr)
            return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
