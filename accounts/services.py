"""Writes of users: accounts, their profile (preferences) and their API credentials."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.models import UserProfile


def user_create(
    *, username: str, password: str, email: str = "", is_staff: bool = False, is_superuser: bool | None = None
) -> User:
    """Create an account. `is_superuser` defaults to `is_staff` (a site administrator); pass False for a
    staff account that reaches the admin but only the challenges it organises."""
    user_model = get_user_model()
    user = user_model(
        username=username,
        email=email,
        is_staff=is_staff,
        is_superuser=is_staff if is_superuser is None else is_superuser,
    )
    user.set_password(password)
    user.full_clean()
    user.save()
    if email:
        # unverified: no notification reaches it until its owner confirms it
        EmailAddress.objects.create(user=user, email=email.lower(), primary=True, verified=False)
    return user


def user_email_set(*, user: User, email: str) -> None:
    """Make `email` the user's primary address, unverified until its owner follows the confirmation
    link (allauth's e-mail page sends one); the previous addresses are forgotten."""
    EmailAddress.objects.filter(user=user).exclude(email__iexact=email).delete()
    if email:
        EmailAddress.objects.update_or_create(
            user=user, email=email.lower(), defaults={"primary": True, "verified": False}
        )


def user_profile_get(*, user: User) -> UserProfile:
    """The user's `UserProfile`, created with the defaults on first use."""
    profile, _ = UserProfile.objects.get_or_create(user=user)
    return profile


@transaction.atomic
def user_profile_update(
    *, user: User, email: str | None = None, email_notifications: bool | None = None
) -> UserProfile:
    """Change the user's email address and whether they get an email when a submission ends."""
    profile = user_profile_get(user=user)
    if email is not None and email != user.email:
        user.email = email
        user.full_clean(exclude=["password"])
        user.save(update_fields=["email"])
        user_email_set(user=user, email=email)
    if email_notifications is not None:
        profile.email_notifications = email_notifications
        profile.save(update_fields=["email_notifications"])
    return profile


@transaction.atomic
def api_token_rotate(*, user: User) -> Token:
    """Replace the user's token by a new one; the old key stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def api_token_revoke(*, user: User) -> bool:
    """Delete the user's token. Returns whether there was one. Idempotent."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)


@transaction.atomic
def api_token_rotate_if_present(*, user: User) -> Token | None:
    """Replace the user's token if they have one (a password change does this); None if they had none."""
    if not Token.objects.filter(user=user).exists():
        return None
    return api_token_rotate(user=user)
