"""The signed-in user of a request that only signed-in users reach.

`request.user` may be anonymous as far as the types know; behind DRF's `IsAuthenticated` or Django's
`login_required` it never is, and the services that act for a user take a `User`.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def signed_in_user(request: HttpRequest) -> User:
    """`request.user`, known to be signed in (a DRF `Request` is an `HttpRequest` to the types).

    Raises:
        PermissionDenied: the user is anonymous, which the view's permission or `login_required`
            already refused (a 403 should a view ever lose its guard).
    """
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied("Sign in first.")
    return user
