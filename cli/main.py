"""`pentathlon`: log in, get a phase's starter kit, validate and pack a submission, submit it, read results.

Exit codes: 0 success; 1 usage, network, server or local file error; 2 rejected submission
(offline validation, upload refused, or scoring failed); 3 authentication (not logged in, bad
credentials or token, not allowed); 4 not in a team of the challenge (the message gives its team
page). Errors are one sentence on stderr, never a traceback
(set PENTATHLON_DEBUG=1 to see one).

The commands live in `cli.commands`, the parser in `cli.parser`; this module runs one and turns
its errors into an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from cli import config
from cli.client import ApiClient
from cli.commands import leaderboard
from cli.errors import EXIT_AUTH, EXIT_ERROR, EXIT_REJECTED, CliError
from cli.output import Ui as _Ui
from cli.output import fmt as _fmt
from cli.parser import build_parser
from evaluation.errors import EvaluationError

# What `python -m cli`, the `pentathlon` script and the tests import from here.
__all__ = ["_Ui", "_client", "_fmt", "build_parser", "cmd_leaderboard", "main"]


def _client(args: argparse.Namespace, *, need_token: bool = False) -> ApiClient:
    """The API client of a command: `--server` and `--token`, else the configured ones."""
    server = config.resolve_server(getattr(args, "server", None))
    token = config.resolve_token(server, getattr(args, "token", None))
    if need_token and not token:
        raise CliError(f"You are not logged in to {server}; run `pentathlon login` first.", EXIT_AUTH)
    return ApiClient(server, token)


def cmd_leaderboard(args: argparse.Namespace, ui: _Ui) -> int:
    """`pentathlon leaderboard` with this module's `_client`, looked up when it runs."""
    return leaderboard.cmd_leaderboard(args, ui, _client)


@contextmanager
def _interrupts() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        sys.stderr.write("interrupted.\n")
        raise SystemExit(130) from None


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) and usage errors (1) from argparse
        return int(exc.code or 0)
    ui = _Ui()
    try:
        with _interrupts():
            return int(args.handler(args, ui, _client))
    except CliError as exc:
        message = exc.message
        prefix = "" if message.startswith("rejected: ") else "error: "
        sys.stderr.write(f"{prefix}{message}\n")
        return exc.exit_code
    except EvaluationError as exc:
        sys.stderr.write(f"rejected: {exc}\n")
        return EXIT_REJECTED
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
        if os.environ.get("PENTATHLON_DEBUG"):
            raise
        text = " ".join(str(exc).split()) or "no details"
        sys.stderr.write(
            f"error: unexpected {type(exc).__name__} ({text}); rerun with PENTATHLON_DEBUG=1 to see where.\n"
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
