"""config/middleware.py: a request body that stops arriving ends its request (408) and frees the thread."""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest
from django.core.handlers.wsgi import WSGIHandler

from config.middleware import REQUEST_BODY_INCOMPLETE, REQUEST_BODY_TIMEOUT


def _post_token_login(
    declared: int, sent: bytes, *, reset: bool = False
) -> tuple[str, dict, float, socket.socket]:
    """POST /api/v1/auth/token/ through Django's WSGI handler, its body read from a real TCP socket
    that carries `sent` of `declared` bytes (gunicorn passes its client socket as `gunicorn.socket`);
    `reset`: the client then aborts the connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    server.settimeout(8)  # a guard: without the middleware the read would wait for ever
    client.sendall(sent)
    if reset:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        time.sleep(0.2)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/auth/token/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(declared),
        "wsgi.input": server.makefile("rb"),
        "wsgi.url_scheme": "http",
        "gunicorn.socket": server,
    }
    seen: dict = {}
    started = time.monotonic()
    body = b"".join(WSGIHandler()(environ, lambda status, headers: seen.update(status=status)))
    return seen["status"], json.loads(body), time.monotonic() - started, server


@pytest.mark.django_db
def test_a_stalled_body_ends_with_408_after_the_timeout(settings):
    settings.PENTATHLON_REQUEST_BODY_TIMEOUT = 1
    status, data, elapsed, server = _post_token_login(1000, b'{"username": "participant", ')
    assert status.startswith("408"), (status, data)
    assert data["detail"] == REQUEST_BODY_TIMEOUT.format(seconds=1)
    assert 0.9 < elapsed < 10
    assert server.gettimeout() is None, "gunicorn writes the response on a blocking socket"


@pytest.mark.django_db
def test_a_body_cut_short_ends_with_400(settings):
    settings.PENTATHLON_REQUEST_BODY_TIMEOUT = 5
    status, data, elapsed, _ = _post_token_login(1000, b'{"username": "participant", ', reset=True)
    assert status.startswith("400") and data["detail"] == REQUEST_BODY_INCOMPLETE
    assert elapsed < 4


@pytest.mark.django_db
def test_a_complete_body_is_read_as_before(settings):
    settings.PENTATHLON_REQUEST_BODY_TIMEOUT = 1
    body = json.dumps({"username": "nobody", "password": "wrong"}).encode()
    status, data, _, server = _post_token_login(len(body), body)
    assert status.startswith("400"), (status, data)  # wrong credentials: the body arrived and was read
    assert server.gettimeout() is None
