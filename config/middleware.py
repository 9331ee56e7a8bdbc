"""A read timeout on request bodies, so a body that stops arriving frees its server thread.

gunicorn's threads block in ``recv`` while a view reads the body; without a timeout, a few clients
that send headers and part of a body, then nothing, hold every thread (docs/deploying.md, "The
buffering proxy", puts nginx in front for the same reason). Under gunicorn the middleware gives the
client socket ``PENTATHLON_REQUEST_BODY_TIMEOUT`` seconds per read while the request is handled;
a read that times out ends the request with 408, a body cut short with 400, each with a sentence
instead of a 500.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError

REQUEST_BODY_TIMEOUT = (
    "The request body stopped arriving for {seconds} s, so the server stopped waiting for it; "
    "send the request again."
)
REQUEST_BODY_INCOMPLETE = "The request body ended before its declared length; send the request again."


class RequestBodyTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.seconds = settings.PENTATHLON_REQUEST_BODY_TIMEOUT

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sock = request.META.get("gunicorn.socket")
        if not self.seconds or not isinstance(sock, socket.socket):
            return self.get_response(request)
        sock.settimeout(self.seconds)
        try:
            return self.get_response(request)
        finally:
            # gunicorn writes the response (sendfile included) on a blocking socket.
            sock.settimeout(None)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, UnreadablePostError):
            return None
        if _timed_out(exception):
            detail, status = REQUEST_BODY_TIMEOUT.format(seconds=self.seconds), 408
        else:
            detail, status = REQUEST_BODY_INCOMPLETE, 400
        response = JsonResponse({"detail": detail}, status=status)
        response["Connection"] = "close"
        return response


def _timed_out(exception: BaseException) -> bool:
    """Whether a socket timeout caused it (Django may wrap the read error twice)."""
    cause: BaseException | None = exception
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__
    return False
