"""Typed rejections. Every message names the dataset, the member file and what was expected."""

from __future__ import annotations


class EvaluationError(ValueError):
    """Base of every error the evaluation core raises on bad input."""

    def __init__(self, message: str, *, dataset: str | None = None, member: str | None = None) -> None:
        self.dataset = dataset
        self.member = member
        self.detail = message
        where = ", ".join(
            part
            for part in (
                f"dataset {dataset}" if dataset else "",
                f"file {member}" if member else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class SubmissionError(EvaluationError):
    """The participant's submission cannot be scored; a user error, never retried."""


class SubmissionFormatError(SubmissionError):
    """Unreadable, wrongly shaped or wrongly typed submission content."""


class SubmissionTooLargeError(SubmissionError):
    """A declared size (archive member, array shape x dtype) exceeds the configured limit."""


class GroundTruthError(EvaluationError):
    """The organiser's ground-truth file is invalid."""
