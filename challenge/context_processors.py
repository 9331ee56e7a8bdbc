"""Template context for every page: whether the header offers the organiser console."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from challenge.selectors import challenge_organised_list


def organiser_console(request: HttpRequest) -> dict[str, Any]:
    """`organises_any`: the user organises a challenge (or is staff); asked only when a page reads it."""
    user = getattr(request, "user", None)

    def organises() -> bool:
        if user is None or not user.is_authenticated:
            return False
        return bool(user.is_staff or challenge_organised_list(user=user).exists())

    return {"organises_any": SimpleLazyObject(organises)}
