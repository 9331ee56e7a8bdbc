"""What the site does when allauth signs a user up, and when a password changes."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_signed_up
from django.conf import settings
from django.contrib import messages
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.services import api_token_rotate_if_present

WELCOME = "Welcome, {username}! Pick a challenge and form or join a team."


@receiver(user_signed_up, dispatch_uid="accounts.welcome")
def welcome_on_signup(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Greet the new participant with the next step."""
    messages.success(request, WELCOME.format(username=user.get_username()))


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.rotate_token_on_password_change")
def rotate_api_token_on_password_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A new password (changed, reset, set by an administrator or `changepassword`) replaces the user's
    API token, so a client holding the old credentials is logged out as the other browser sessions are.

    `AbstractBaseUser.save` keeps the raw password in `_password` until after this signal, exactly when
    `set_password` was called before the save; a hash upgrade on login clears it first and rotates
    nothing (django.contrib.auth.base_user, `check_password`'s setter).
    """
    if created or getattr(instance, "_password", None) is None:
        return
    api_token_rotate_if_present(user=instance)
