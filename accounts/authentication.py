"""How the REST API reads an `Authorization: Token <key>` header."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

TOKEN_NOT_VALID = (
    "This API token is no longer valid: it was rotated or revoked, and a password change or reset replaces"
    " it too. Log in again (`pentathlon login`) or copy your current token from /accounts/api-token/."
)

ACCOUNT_INACTIVE = "This account is deactivated; its API token no longer works."


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, with a refusal that says why a key stopped working and what to do."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        # DRF's `get_model()`: Token, as no `model` is set here
        token = Token.objects.select_related("user").filter(key=key).first()
        if token is None:
            raise AuthenticationFailed(TOKEN_NOT_VALID)
        if not token.user.is_active:
            raise AuthenticationFailed(ACCOUNT_INACTIVE)
        return token.user, token
