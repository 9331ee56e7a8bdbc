"""The client's address, as the deployment's trusted proxies report it, for every IP-based limit.

``PENTATHLON_NUM_PROXIES`` (DRF's ``NUM_PROXIES``) says how many reverse proxies stand in front of
the site. 0 (the default): ``X-Forwarded-For`` is ignored and the address is ``REMOTE_ADDR``. N > 0:
the N-th address from the right of ``X-Forwarded-For``, the one the outermost trusted proxy
appended; whatever a client writes to the left of it changes nothing. DRF's throttles use the same
rule through the same setting (``BaseThrottle.get_ident``); the login lockout uses this function.
"""

from __future__ import annotations

from typing import Any

from rest_framework.settings import api_settings


def client_ip(request: Any) -> str:
    """The client address of a request (anything with a META mapping); "unknown" when there is none."""
    meta = request.META
    remote_addr = meta.get("REMOTE_ADDR", "") or ""
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    num_proxies = api_settings.NUM_PROXIES or 0
    if num_proxies <= 0 or forwarded is None:
        return remote_addr or "unknown"
    addresses = forwarded.split(",")
    return addresses[-min(num_proxies, len(addresses))].strip() or "unknown"
