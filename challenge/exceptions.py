"""Domain errors. The API's exception handler maps them to 400, 403 and 404; views show the message.

Every message is a complete sentence a participant can act on.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """A request the domain refuses (bad input, closed phase, quota); HTTP 400."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class PermissionDeniedError(ApplicationError):
    """The user may not do this; HTTP 403."""

    status_code = 403


class NotFoundError(ApplicationError):
    """The object does not exist or is not visible to this user; HTTP 404."""

    status_code = 404


class UploadStateError(ApplicationError):
    """The upload is not open for this (completed, being completed, or a chunk still arriving); HTTP 409."""

    status_code = 409


class QuotaExceededError(ApplicationError):
    """The team has used its submissions for the day or the phase."""


class TransientEvaluationError(Exception):
    """Storage (or another dependency) is temporarily unavailable; the evaluation task retries."""


class StoredFileUnavailable(TransientEvaluationError, OSError):  # noqa: N818 - reads as what happened
    """A stored file cannot be read right now: the evaluation task retries, a page treats it as an I/O error."""


class DuplicateSubmissionError(ApplicationError):
    """The team already submitted this very file (same sha256) to the phase; HTTP 409.

    `extra` carries the earlier submission's id and page URL, so a client can link it.
    """

    status_code = 409

    def __init__(self, message: str, *, submission_id: int, url: str, page_message: str = "") -> None:
        super().__init__(message, extra={"submission": submission_id, "url": url})
        self.submission_id = submission_id
        self.url = url
        self.page_message = page_message or message  # for a page that links the submission itself
