"""Domain errors every app raises. The API's exception handler (`config.exceptions`) maps them to
400, 403 and 404; the pages map them through `core.views.domain_errors`.

Every message is a complete sentence a user can act on. An app's own refinements (a quota, an upload's
state) subclass these in the app (`challenge.exceptions`).
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A request the domain refuses (bad input, closed phase, quota); HTTP 400."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class PermissionDeniedError(ApplicationError):
    """The user may not do this; HTTP 403."""

    status_code = 403


class NotFoundError(ApplicationError):
    """The object does not exist or is not visible to this user; HTTP 404."""

    status_code = 404


class TransientEvaluationError(Exception):
    """Storage (or another dependency) is temporarily unavailable; the evaluation task retries."""
