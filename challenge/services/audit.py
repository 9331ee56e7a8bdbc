"""The organisers' log: one `OrganiserAction` per write an organiser makes, and how values read in it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from challenge.models import Challenge, OrganiserAction


def organiser_action_record(
    *, challenge: Challenge | int, user: User | None, action: str, target: str, detail: str = ""
) -> OrganiserAction | None:
    """Log one organiser action (who, what, when); nothing without a user (a command or a migration)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    challenge_id = challenge if isinstance(challenge, int) else challenge.id
    return OrganiserAction.objects.create(
        challenge_id=challenge_id,
        user=user,
        username=user.get_username(),
        action=action,
        target=target[:200],
        detail=detail,
    )


def shown(value: Any) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, list):  # formats, datasets, or pages (named by their titles)
        return ", ".join(str(v.get("title", v)) if isinstance(v, dict) else str(v) for v in value) or "none"
    return str(value)


def brief(value: Any) -> str:
    text = shown(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:79] + "…"
