"""What every organiser page shares: who may see it, the signed-in request's type, going back to the
page a form was on and showing a service's refusal on a form."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme

from challenge.models import Challenge
from challenge.selectors import challenge_is_organiser

NOT_ORGANISER = "Nothing here: you do not organise this challenge."


class SignedInRequest(HttpRequest):
    """A request that `login_required` let through: its user is an account, never anonymous
    (django-stubs' pattern for views behind a login)."""

    user: User


def redirect_back(request: HttpRequest, default: str) -> HttpResponse:
    """Back to the page the form was on (`next`, this site only), else `default`."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return redirect(target)


def organiser_only(challenge_id: int, request: HttpRequest) -> None:
    """404 unless the signed-in user organises the challenge (see `challenge_is_organiser`)."""
    if not challenge_is_organiser(user=request.user, challenge=challenge_id):
        raise Http404(NOT_ORGANISER)


def organised_challenge(request: HttpRequest, slug: str) -> Challenge:
    """The challenge at `slug`, or a 404 unless the user organises it."""
    challenge = get_object_or_404(Challenge, slug=slug)
    organiser_only(challenge.id, request)
    return challenge


def form_errors_show(form: forms.BaseForm, exc: ValidationError) -> None:
    """A service's refusal shown next to the field it names (else above the form)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)
