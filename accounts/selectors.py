"""Reads of a user's API credentials, e-mail verification and preferences."""

from __future__ import annotations

from collections.abc import Iterable

from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from accounts.models import UserProfile


def api_token_get(*, user: User) -> Token | None:
    """The user's API token, or None when they have none (never created, or revoked)."""
    return Token.objects.filter(user=user).first()


def user_email_verified(*, user: User) -> bool:
    """Whether the user's primary address is confirmed (only confirmed addresses get notifications)."""
    confirmed = EmailAddress.objects.filter(user=user, primary=True, verified=True)
    return bool(confirmed.exists())  # allauth ships no type hints: `exists()` reads as Any


def users_without_email_notifications(*, user_ids: Iterable[int]) -> set[int]:
    """Of `user_ids`, those who turned email notifications off on their profile page."""
    return set(
        UserProfile.objects.filter(user_id__in=list(user_ids), email_notifications=False).values_list(
            "user_id", flat=True
        )
    )
