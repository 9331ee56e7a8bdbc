"""The argument parser of `pentathlon`: the shared options and every command's own."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from cli import config
from cli.commands import Handler, account, browse, kit, leaderboard, submissions, team
from cli.errors import EXIT_ERROR

DESCRIPTION = "`pentathlon`: log in, get a phase's starter kit, validate and pack a submission, submit it, read results."
EPILOG = "Exit codes: 0 ok, 1 usage/network/server error, 2 rejected submission, 3 auth, 4 not in a team."


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one sentence and exit code 1 (argparse's own is 2, ours means 'rejected')."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`).\n")
        raise SystemExit(EXIT_ERROR)


def _common_options() -> Parser:
    """--server and --token, accepted after the command too (`pentathlon status 7 --server URL`)."""
    common = Parser(add_help=False)
    common.add_argument(
        "--server",
        default=argparse.SUPPRESS,
        help=f"server URL (default: $PENTATHLON_SERVER, the stored one, or {config.DEFAULT_SERVER})",
    )
    common.add_argument(
        "--token", default=argparse.SUPPRESS, help="API token (default: $PENTATHLON_TOKEN or the stored one)"
    )
    return common


def build_parser() -> Parser:
    """Each command's namespace carries its `handler(args, ui, client)` (see `cli.commands`)."""
    common = _common_options()
    parser = Parser(prog="pentathlon", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--server", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--token", default=None, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        cmd.set_defaults(handler=handler)
        return cmd

    # in the order of `pentathlon --help`
    for group in (account, browse, kit, submissions, leaderboard, team):
        group.register(command)
    return parser
