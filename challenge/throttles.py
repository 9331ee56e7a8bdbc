"""Rate limits shared by the API and the web forms (SECURITY.md, findings 15 and 17).

The API views name a `throttle_scope` (DRF's ScopedRateThrottle, per user); the web forms, which DRF
does not see, ask `throttle_allows` with the same throttle classes and rates, so a limit holds on
every road. `AddressRateThrottle` counts per client address (the deployment's trusted-proxy rule,
`challenge.client_address`) whoever is logged in: one address opening many accounts gets no more.
Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (PENTATHLON_THROTTLE_* settings).
"""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle
from rest_framework.views import APIView

THROTTLED = "Too many requests of this kind from you; try again in {wait} seconds."


class AddressRateThrottle(SimpleRateThrottle):
    """Per client address for the view's `throttle_scope`, logged in or not."""

    def __init__(self) -> None:  # the rate depends on the view's scope, read in allow_request
        pass

    def allow_request(self, request: Any, view: Any) -> bool:
        self.scope = getattr(view, "throttle_scope", None)
        if not self.scope or self.THROTTLE_RATES.get(self.scope) is None:
            return True  # no rate for the scope ("off"): unlimited, like DRF's scoped throttle
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class _Scope(APIView):
    """A stand-in view for a page: the throttles read only its `throttle_scope`."""

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.throttle_scope = scope


def throttle_allows(request: Any, *, scope: str, per_address: bool = False) -> int | None:
    """Count one request of a web form against `scope`. Returns None when allowed, else seconds to wait.

    `per_address`: count per client address instead of per user.
    """
    throttle = AddressRateThrottle() if per_address else ScopedRateThrottle()
    if throttle.allow_request(request, _Scope(scope)):
        return None
    return max(int(throttle.wait() or 1), 1)
