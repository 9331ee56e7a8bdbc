"""allauth adapters: how the site answers where allauth's defaults would not."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from django.http import Http404

PROVIDER_NOT_CONFIGURED = (
    "This sign-in provider is not configured on this site; log in with a username and password instead."
)


class SocialAccountAdapter(DefaultSocialAccountAdapter):  # type: ignore[misc]  # allauth ships no type hints
    """A provider without a client id in the settings is absent: its login URL answers 404, not 500."""

    def get_app(self, request: Any, provider: str, client_id: str | None = None) -> SocialApp:
        try:
            return super().get_app(request, provider, client_id=client_id)
        except SocialApp.DoesNotExist as exc:
            raise Http404(PROVIDER_NOT_CONFIGURED) from exc
