"""Request bodies that stop arriving, against a real gunicorn: they hold its threads only for
PENTATHLON_REQUEST_BODY_TIMEOUT seconds (config/middleware.py), then a plain GET answers again."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from tests.integration.stack import Stack, embedded_var

pytestmark = pytest.mark.slow

BODY_TIMEOUT_S = 2
THREADS = 2


def _stalled_login(port: int) -> socket.socket:
    """A token login that sends its headers and part of its JSON body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        b"POST /api/v1/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"username": "participant", '
    )
    return sock


def test_stalled_bodies_free_gunicorns_threads(tmp_path):
    stack = Stack(
        tmp_path / "var",
        database_url=embedded_var(tmp_path / "var"),
        web_workers=1,
        web_threads=THREADS,
        extra_env={"PENTATHLON_REQUEST_BODY_TIMEOUT": str(BODY_TIMEOUT_S)},
    )
    try:
        stack.start_web()
        stalled = [_stalled_login(stack.port) for _ in range(2 * THREADS)]
        time.sleep(0.5)
        started = time.monotonic()
        answer = requests.get(f"{stack.base_url}/api/v1/challenges/", timeout=30)
        elapsed = time.monotonic() - started
        assert answer.status_code == 200
        # Every thread was held; each pair of stalled bodies lets go after the timeout.
        assert elapsed < 3 * BODY_TIMEOUT_S + 2, f"the GET waited {elapsed:.1f} s"
        for sock in stalled:
            status_line = sock.recv(4096).split(b"\r\n")[0]
            assert status_line == b"HTTP/1.1 408 Request Timeout", status_line
            sock.close()
    finally:
        stack.stop()
