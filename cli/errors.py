"""Exit codes and the one error type the commands raise: a sentence and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1  # usage, network, server, local files
EXIT_REJECTED = 2  # the submission was rejected (offline, at upload, or by the scorer)
EXIT_AUTH = 3  # not logged in, bad credentials or token, not allowed
EXIT_NO_TEAM = 4  # signed in, but in no team of the challenge (the message gives the team page)


class CliError(Exception):
    """A failure to report as one sentence on stderr, then exit with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
