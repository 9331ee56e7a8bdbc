"""Login rate limiting: after N failed passwords for one (client IP, username) the pair is locked out.

Every password check of the site goes through `LockoutModelBackend`: the login page, the API's
token endpoint and the admin login. Counters live in Django's cache (local memory by default,
Redis in production via CACHE_URL or REDIS_URL), in a fixed window that starts at the first
failure. A locked pair is refused without checking the password (no hashing cost, no oracle);
a successful login clears the pair's counter.

The client IP is `challenge.client_address.client_ip`: REMOTE_ADDR, or behind
PENTATHLON_NUM_PROXIES trusted proxies the address the outermost one appended to X-Forwarded-For
(the rule of the API throttles); what a client writes in that header itself changes nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from challenge.client_address import client_ip

LOCKED_OUT = "Too many failed logins for this account from your address; try again in {minutes} minutes."


def _limits() -> tuple[int, int]:
    return (
        int(getattr(settings, "PENTATHLON_LOGIN_MAX_FAILURES", 5)),
        int(getattr(settings, "PENTATHLON_LOGIN_LOCKOUT_SECONDS", 900)),
    )


def _key(request: HttpRequest | None, username: str) -> str | None:
    if request is None:
        return None  # management commands and shells: no client to rate-limit
    ip = client_ip(request)
    digest = hashlib.sha256(f"{ip}\x00{username.strip().lower()}".encode()).hexdigest()
    return f"pentathlon:login-failures:{digest}"


def login_failures(*, request: HttpRequest | None, username: str) -> int:
    key = _key(request, username)
    return 0 if key is None else int(cache.get(key, 0))


def login_locked(*, request: HttpRequest | None, username: str) -> bool:
    max_failures, _ = _limits()
    return max_failures > 0 and login_failures(request=request, username=username) >= max_failures


def login_failure_record(*, request: HttpRequest | None, username: str) -> int:
    """Count one failure in the pair's window (the window starts at the first failure)."""
    key = _key(request, username)
    if key is None:
        return 0
    _, window = _limits()
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return 1


def login_failures_clear(*, request: HttpRequest | None, username: str) -> None:
    key = _key(request, username)
    if key is not None:
        cache.delete(key)


class LockoutModelBackend(ModelBackend):
    """Django's ModelBackend behind a per-(IP, username) failure counter."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        if login_locked(request=request, username=username):
            _, window = _limits()
            # PermissionDenied stops authenticate() at once: no other backend tries the password.
            raise PermissionDenied(LOCKED_OUT.format(minutes=max(1, window // 60)))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(request=request, username=username)
        else:
            login_failures_clear(request=request, username=username)
        return user
