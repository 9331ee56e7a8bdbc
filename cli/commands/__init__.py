"""The sub-commands of `pentathlon`, one module per group; `cli.parser` registers them.

A command is `handler(args, ui, client) -> exit code`. `client(args, need_token=...)` turns
`--server`/`--token` into an `ApiClient`; `cli.main` passes its own, so one place decides how a
command reaches the server (and tests can put a fake there).
"""

from __future__ import annotations

import argparse
from typing import Protocol

from cli.client import ApiClient
from cli.output import Ui


class ClientFactory(Protocol):
    def __call__(self, args: argparse.Namespace, *, need_token: bool = False) -> ApiClient: ...


class Handler(Protocol):
    def __call__(self, args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int: ...


class Register(Protocol):
    """`command(name, handler, help)`: a sub-parser for one command, with the shared options."""

    def __call__(self, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser: ...
