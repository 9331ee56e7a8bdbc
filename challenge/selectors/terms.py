"""Reads of a challenge's terms: whether a user accepted the current version."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from challenge.models import Challenge


def terms_accepted(*, challenge: Challenge, user: User | AnonymousUser | None) -> bool:
    """The user accepted the challenge's current terms (always true when it asks for none)."""
    if not challenge.terms_version:
        return True
    if user is None or not user.is_authenticated:
        return False
    return challenge.terms_acceptances.filter(user=user, version=challenge.terms_version).exists()


def terms_acceptance_of(*, challenge: Challenge, user: User | AnonymousUser | None) -> object | None:
    """The user's latest acceptance of the challenge's terms (any version), or None."""
    if user is None or not user.is_authenticated:
        return None
    return challenge.terms_acceptances.filter(user=user).order_by("-version", "-accepted_at").first()
