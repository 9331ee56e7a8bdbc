"""The API token page (see, create or rotate, and revoke one's own token), and allauth's entrance
pages as the site serves them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from allauth.account import views as allauth_views
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import api_token_get
from accounts.services import api_token_revoke, api_token_rotate
from core.views import AuthenticatedHttpRequest


@login_required
def api_token_detail(request: AuthenticatedHttpRequest) -> HttpResponse:
    token = api_token_get(user=request.user)
    response = render(request, "accounts/api_token.html", {"token": token})
    response["Cache-Control"] = "no-store"  # the key is a credential
    return response


@login_required
@require_POST
def api_token_rotate_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    api_token_rotate(user=request.user)
    messages.success(request, "A new API token was created; the previous one no longer works.")
    return redirect("accounts:api-token")


@login_required
@require_POST
def api_token_revoke_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    if api_token_revoke(user=request.user):
        messages.success(request, "Your API token was revoked; clients using it are logged out.")
    else:
        messages.info(request, "You had no API token.")
    return redirect("accounts:api-token")


def _form_errors_are_400(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A form page re-rendered with errors answers 400, as every form of the site does."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if request.method == "POST" and response.status_code == 200 and form is not None and form.errors:
            response.status_code = 400
        return response

    return wrapper


login_view = _form_errors_are_400(allauth_views.login)
signup_view = _form_errors_are_400(allauth_views.signup)
password_reset_view = _form_errors_are_400(allauth_views.password_reset)
