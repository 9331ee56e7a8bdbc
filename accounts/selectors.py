"""Reads of a user's API credentials."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from rest_framework.authtoken.models import Token


def api_token_get(*, user: AbstractBaseUser) -> Token | None:
    """The user's API token, or None when they have none (never created, or revoked)."""
    return Token.objects.filter(user=user).first()
