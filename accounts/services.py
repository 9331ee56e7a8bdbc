"""Writes of a user's API credentials: one token per user, rotated or revoked by its owner."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def api_token_rotate(*, user: AbstractBaseUser) -> Token:
    """Replace the user's token by a new one; the old key stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def api_token_revoke(*, user: AbstractBaseUser) -> bool:
    """Delete the user's token. Returns whether there was one. Idempotent."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)
