"""Helpers the pages of every app share."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from core.exceptions import NotFoundError, PermissionDeniedError

_P = ParamSpec("_P")
_R = TypeVar("_R", bound=HttpResponseBase)


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a view behind `login_required`: its user is signed in (django-stubs' recipe,
    https://github.com/typeddjango/django-stubs#how-can-i-create-a-httprequest-thats-guaranteed-to-have-an-authenticated-user).
    For annotations only: Django builds plain `HttpRequest`s."""

    user: User


def domain_errors(view: Callable[_P, _R]) -> Callable[_P, _R]:
    """Map NotFoundError to 404 and PermissionDeniedError to 403 pages."""

    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return view(*args, **kwargs)
        except NotFoundError as exc:
            raise Http404(exc.message) from exc
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc

    return wrapper


class Echo:
    """A file-like object whose write returns the line: the CSV writer formats, a streamed response
    sends each line as it is made."""

    def write(self, value: str) -> str:
        return value
