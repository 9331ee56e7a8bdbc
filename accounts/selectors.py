"""Reads of a user's API credentials and e-mail verification."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.authtoken.models import Token


def api_token_get(*, user: AbstractBaseUser) -> Token | None:
    """The user's API token, or None when they have none (never created, or revoked)."""
    return Token.objects.filter(user=user).first()


def user_email_verified(*, user: AbstractBaseUser) -> bool:
    """Whether the user's primary address is confirmed (only confirmed addresses get notifications)."""
    return EmailAddress.objects.filter(user=user, primary=True, verified=True).exists()
