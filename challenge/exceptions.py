"""Challenge's own domain errors, refinements of the errors every app raises (`core.exceptions`).

Every message is a complete sentence a participant can act on.
"""

from __future__ import annotations

from core.exceptions import ApplicationError, TransientEvaluationError

__all__ = [
    "DuplicateSubmissionError",
    "QuotaExceededError",
    "StoredFileUnavailable",
    "UploadStateError",
]


class UploadStateError(ApplicationError):
    """The upload is not open for this (completed, being completed, or a chunk still arriving); HTTP 409."""

    status_code = 409


class QuotaExceededError(ApplicationError):
    """The team has used its submissions for the day or the phase."""


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
