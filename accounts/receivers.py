"""What the site does when allauth signs a user up."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_signed_up
from django.contrib import messages
from django.dispatch import receiver
from django.http import HttpRequest

WELCOME = "Welcome, {username}! Pick a challenge and form or join a team."


@receiver(user_signed_up, dispatch_uid="accounts.welcome")
def welcome_on_signup(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Greet the new participant with the next step."""
    messages.success(request, WELCOME.format(username=user.get_username()))
