"""Helpers the pages of every app share."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from core.exceptions import NotFoundError, PermissionDeniedError


def domain_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Map NotFoundError to 404 and PermissionDeniedError to 403 pages."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
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
