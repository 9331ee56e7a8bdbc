"""`pentathlon login` and `logout`: the API token stored per server (`cli.config`)."""

from __future__ import annotations

import argparse
import getpass
import sys

from cli import config
from cli.client import ApiClient
from cli.commands import ClientFactory, Register
from cli.errors import EXIT_AUTH, EXIT_ERROR, EXIT_OK, CliError
from cli.output import Ui


def _token_from_password(server: str, username: str, password: str) -> str:
    if not username or not password:
        raise CliError("A username and a password are needed to log in.", EXIT_AUTH)
    try:
        data = ApiClient(server).post_json("auth/token/", {"username": username, "password": password})
    except CliError as exc:
        if exc.exit_code == EXIT_ERROR and "credentials" in exc.message.lower():
            raise CliError(f"Logging in to {server} failed: {exc.message}", EXIT_AUTH) from exc
        raise
    token = data.get("token") if isinstance(data, dict) else None
    if not token:
        raise CliError(f"The server at {server} did not return a token; is it a Pentathlon server?")
    return str(token)


def cmd_login(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    server = config.resolve_server(args.server)
    if args.token:
        token = args.token.strip()
        ApiClient(server, token).get_json("submissions/", auth_required=True)  # 401 if the token is wrong
        username = args.username or ""
    else:
        username = args.username or input("Username: ").strip()
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = args.password if args.password is not None else getpass.getpass("Password: ")
        token = _token_from_password(server, username, password)
    path = config.store_token(server=server, token=token, username=username)
    who = f" as {username}" if username else ""
    ui.out.print(f"Logged in to {server}{who}; the token is saved in {path} (readable by you only).")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    server = config.resolve_server(args.server)
    removed = config.forget_token(server=server)
    ui.out.print(f"Logged out of {server}." if removed else f"No token was stored for {server}.")
    return EXIT_OK


def register(command: Register) -> None:
    login = command("login", cmd_login, "log in and store the API token (0600) for this server")
    login.add_argument("--username", "-u")
    secret = login.add_mutually_exclusive_group()
    secret.add_argument("--password", "-p", help="the password (default: asked for, not echoed)")
    secret.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    command("logout", cmd_logout, "forget the token stored for this server")
